"""The pick of the top-rated, batched over selections. The rest of the selectors' rules the
simulation replays are theirs, imported: Swiss pairing (`rrm_select.selectors.swiss`) and the
penalised Bradley-Terry fit (`rrm_select.ratings`, which fits a batch at once)."""

from __future__ import annotations

import numpy as np


def best_of(ratings: np.ndarray, tie_break: np.ndarray) -> np.ndarray:
    """Per row, the highest rating (ties within 1e-9: the larger `tie_break`, then the first)."""
    top = ratings >= ratings.max(axis=1, keepdims=True) - 1e-9
    return np.where(top, tie_break, -np.inf).argmax(axis=1)

