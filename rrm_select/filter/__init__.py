"""The dataset filter app on top of rrm_select: ``rrm-select filter`` / ``select``, and the Ray stage.

It uses only the public API of the core (``from rrm_select import ...``): the command line
(`cli`), reading, checking and writing rows (`dataset`), the resumable job (`job`), its Ray
form (`ray_stage`), the dry run (`dry_run`) and the progress line (`progress`).
"""
