from __future__ import annotations

import numpy as np

from rrm_select.ratings import ELO_SCALE, bradley_terry, bradley_terry_errors, online_elo, to_elo, win_matrix
from rrm_select.types import Match, Vote


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


def _simulated_wins(rng: np.random.Generator, truth: np.ndarray, games: int, size: int = 1) -> np.ndarray:
    """`size` win matrices of `games` games per pair drawn from the Bradley-Terry model of `truth`."""
    n = len(truth)
    wins = np.zeros((size, n, n))
    for i in range(n):
        for j in range(i + 1, n):
            won = rng.binomial(games, 1 / (1 + np.exp(truth[j] - truth[i])), size=size)
            wins[:, i, j], wins[:, j, i] = won, games - won
    return wins


def test_standard_errors_match_the_spread_of_refits() -> None:
    rng = np.random.default_rng(1)
    truth = np.array([-0.8, -0.1, 0.3, 0.6])
    refits = bradley_terry(_simulated_wins(rng, truth, games=60, size=2000), prior=1e-6)
    spread = refits.std(axis=0)
    _, errors = bradley_terry_errors(_simulated_wins(rng, truth, games=60)[0], prior=1e-6)
    assert np.allclose(errors, spread, rtol=0.15), (errors, spread)


def test_four_times_the_games_halve_the_standard_errors() -> None:
    rng = np.random.default_rng(2)
    truth = np.array([-0.5, 0.0, 0.5])
    few = _simulated_wins(rng, truth, games=100)[0]
    _, errors_few = bradley_terry_errors(few, prior=1e-6)
    _, errors_many = bradley_terry_errors(few * 4, prior=1e-6)
    assert np.allclose(errors_many, errors_few / 2, rtol=0.01)
    strengths, _ = bradley_terry_errors(few, prior=1e-6)
    assert np.allclose(strengths, bradley_terry(few, prior=1e-6))


def test_an_unbeaten_candidate_has_a_finite_but_large_error() -> None:
    wins = np.array([[0, 3, 3], [0, 0, 2], [0, 1, 0]], dtype=float)
    _, errors = bradley_terry_errors(wins)
    assert np.all(np.isfinite(errors)) and errors[0] == errors.max()


def test_the_win_matrix_counts_valid_votes_between_the_players_given() -> None:
    def vote(first: int, second: int, verdict: int | None) -> Vote:
        return Vote(first=first, second=second, verdict=verdict, answer="", reasoning=None, finish_reason="stop",
                    latency_s=0.0)  # fmt: skip

    matches = [
        Match(a=3, b=5, round=1, winner=3, decided_by="majority",
              votes=(vote(3, 5, 1), vote(5, 3, 2), vote(5, 3, 1), vote(3, 5, None))),  # fmt: skip
        Match(a=5, b=3, round=2, winner=5, decided_by="majority", votes=(vote(5, 3, 1), vote(3, 5, 2))),
        Match(a=3, b=7, round=1, winner=7, decided_by="majority", votes=(vote(3, 7, 2),)),  # 7 is not a player
    ]
    wins = win_matrix(matches, [5, 3])
    assert wins.tolist() == [[0.0, 3.0], [2.0, 0.0]]  # 5 won 1 + 2 votes, 3 won 2
