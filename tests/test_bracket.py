from __future__ import annotations

import math

import numpy as np
import pytest

from rrm_select.selectors.knockout import build_bracket


@pytest.mark.parametrize("n", range(1, 34))
def test_bracket_shape(n: int) -> None:
    bracket = build_bracket(n, np.random.default_rng(n))
    rounds = math.ceil(math.log2(n)) if n > 1 else 0
    assert len(bracket) == max(1, 2**rounds // 2)
    assert sorted(x for slot in bracket for x in slot) == list(range(n))
    assert all(1 <= len(slot) <= 2 for slot in bracket)
    if n > 1:
        assert sum(len(slot) == 1 for slot in bracket) == 2**rounds - n  # byes


def test_byes_are_spread_at_random() -> None:
    positions = {
        tuple(i for i, s in enumerate(build_bracket(5, np.random.default_rng(seed))) if len(s) == 1)
        for seed in range(40)
    }
    assert len(positions) == 4  # 3 byes among 4 slots: every arrangement shows up


def test_same_seed_same_bracket() -> None:
    assert build_bracket(11, np.random.default_rng(3)) == build_bracket(11, np.random.default_rng(3))
    assert build_bracket(11, np.random.default_rng(3)) != build_bracket(11, np.random.default_rng(4))
