"""Know your judge: measure it on labelled chosen/rejected pairs (``rrm-select calibrate``).

It uses only the public API of the core (``from rrm_select import ...``), `filter`'s row
reading and rejects file, and (the command) `settings.build_judge`: the run (`runner`:
`calibrate`, `acalibrate`), the pairs (`pairs`), the figures
(`stats`), the report (`report`: `CalibrationReport`) and the command (`cli`).
"""

from rrm_select.calibration.pairs import LabelledPair, PairFields
from rrm_select.calibration.report import CalibrationReport, Figures, Interval, Spread
from rrm_select.calibration.runner import acalibrate, calibrate

__all__ = [
    "CalibrationReport",
    "Figures",
    "Interval",
    "LabelledPair",
    "PairFields",
    "Spread",
    "acalibrate",
    "calibrate",
]
