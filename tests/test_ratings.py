from __future__ import annotations

import numpy as np

from rrm_select.ratings import ELO_SCALE, bradley_terry, online_elo, to_elo


def test_bradley_terry_recovers_true_strengths() -> None:
    rng = np.random.default_rng(0)
    truth = np.array([-1.0, -0.3, 0.2, 1.1])
    truth -= truth.mean()
    wins = np.zeros((4, 4))
    for i in range(4):
        for j in range(i + 1, 4):
            p = 1 / (1 + np.exp(truth[j] - truth[i]))
            w = rng.binomial(4000, p)
            wins[i, j], wins[j, i] = w, 4000 - w
    fitted = bradley_terry(wins, prior=1e-6)
    assert np.allclose(fitted, truth, atol=0.08)


def test_unbeaten_candidate_is_finite_and_first() -> None:
    wins = np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]], dtype=float)
    s = bradley_terry(wins)
    assert np.all(np.isfinite(s)) and s[0] > s[1] > s[2]
    assert abs(s.mean()) < 1e-9


def test_stronger_prior_shrinks() -> None:
    wins = np.array([[0, 3], [0, 0]], dtype=float)
    assert bradley_terry(wins, prior=1.0)[0] < bradley_terry(wins, prior=0.1)[0]


def test_symmetric_record_gives_equal_ratings() -> None:
    wins = np.array([[0, 2, 1], [2, 0, 1], [1, 1, 0]], dtype=float)
    assert np.allclose(bradley_terry(wins), 0, atol=1e-9)


def test_elo_scale() -> None:
    # 400 Elo points are 10:1 odds
    assert np.isclose(to_elo(np.array([np.log(10)]))[0] - 1500, 400)
    assert np.isclose(ELO_SCALE * np.log(10), 400)


def test_online_elo_is_zero_sum_and_rewards_upsets() -> None:
    r = online_elo(3, [(0, 1, 1.0), (0, 2, 1.0), (1, 2, 0.5)], k=32)
    assert np.isclose(r.sum(), 4500)
    assert r[0] > r[1] and np.isclose(r[0] - 1500, 16 + 32 * (1 - 1 / (1 + 10 ** (-16 / 400))))
