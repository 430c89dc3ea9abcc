"""The Ray Data stage, at its documented import path; it lives in `rrm_select.filter.ray_stage`."""

from rrm_select.filter.dataset import Fields
from rrm_select.filter.ray_stage import SelectionStage, filter_on_ray, import_ray, select_dataset

__all__ = ["Fields", "SelectionStage", "filter_on_ray", "import_ray", "select_dataset"]
