"""The dataset filter app on top of rrm_select: ``rrm-select filter`` / ``select`` / ``report``, and the Ray stage.

It uses only the public API of the core (``from rrm_select import ...``): the command line
(`cli`), reading, checking and writing rows (`dataset`), the resumable job (`job`), its Ray
form (`ray_stage`), the dry run (`dry_run`), the progress line (`progress`), each judged row's
statistics (`row_stats`) and the run's report from its files (`run_report`, which takes its
Wilson interval from the calibration app).
"""
