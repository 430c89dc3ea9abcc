"""Ratings from pairwise win counts (numpy functions), and the win counts of a set of matches.

`bradley_terry` is the default for round robins: the maximum-likelihood strengths of the
Bradley-Terry model, P(i beats j) = 1 / (1 + exp(s_j - s_i)), with a light Gaussian prior on
the strengths so that a candidate that never lost still gets a finite rating. `online_elo` is
the classic sequential K-factor update, offered for users who want chess-style ratings.
Both are reported on the Elo scale: 1500 is average, +400 means 10:1 odds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

ELO_BASE = 1500.0
ELO_SCALE = 400.0 / np.log(10.0)  # natural-log strength -> Elo points


def bradley_terry(wins: np.ndarray, prior: float = 0.1, tol: float = 1e-10, max_iter: int = 100) -> np.ndarray:
    """Strengths (natural-log scale, mean 0) maximising the penalised Bradley-Terry likelihood.

    Args:
        wins: square matrix, ``wins[i, j]`` = times i beat j (fractional counts allowed); or a
            batch of them on leading axes, shape ``(..., n, n)``, each fitted on its own (the
            planner's simulation fits thousands of selections at once).
        prior: weight of the penalty ``prior / 2 * sum(s**2)``; > 0 keeps every strength finite.
    """
    wins = np.asarray(wins, dtype=float)
    n = wins.shape[-1]
    if wins.ndim < 2 or wins.shape[-2] != n or prior <= 0:
        raise ValueError("wins must be a square matrix (or a batch of them) and prior > 0")
    s = np.zeros(wins.shape[:-1])
    # Newton's method: the penalised log-likelihood is strictly concave, so this converges fast.
    for _ in range(max_iter):
        gradient, hessian = _slopes(wins, s, prior)
        step = np.linalg.solve(hessian, gradient[..., None])[..., 0]
        s -= step
        if np.abs(step).max() < tol:
            break
    return s - s.mean(axis=-1, keepdims=True)


def bradley_terry_errors(wins: np.ndarray, prior: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """The `bradley_terry` strengths of `wins` (one matrix) and their standard errors.

    The errors come from the curvature of the penalised log-likelihood at its maximum (the
    inverse of its negative Hessian, the Laplace approximation), taken for the strengths as
    reported, centred on their mean. They shrink as 1 / sqrt(games): four times the votes, half
    the error.
    """
    strengths = bradley_terry(wins, prior=prior)
    wins = np.asarray(wins, dtype=float)
    n = wins.shape[-1]
    _, hessian = _slopes(wins, strengths, prior)
    centre = np.eye(n) - 1.0 / n
    covariance = centre @ np.linalg.inv(-hessian) @ centre
    return strengths, np.sqrt(np.clip(np.diag(covariance), 0.0, None))


def _slopes(wins: np.ndarray, s: np.ndarray, prior: float) -> tuple[np.ndarray, np.ndarray]:
    """The gradient and Hessian of the penalised log-likelihood at strengths `s`."""
    games = wins + np.swapaxes(wins, -1, -2)
    p = 1.0 / (1.0 + np.exp(s[..., None, :] - s[..., :, None]))  # p[i, j] = P(i beats j)
    gradient = (wins - games * p).sum(axis=-1) - prior * s
    weight = games * p * (1.0 - p)
    hessian = weight - np.eye(wins.shape[-1]) * (weight.sum(axis=-1) + prior)[..., :, None]
    return gradient, hessian


class Played(Protocol):
    """A match as `win_matrix` reads it: a `rrm_select.Match`, or a tournament's outcome."""

    @property
    def a(self) -> int: ...
    @property
    def b(self) -> int: ...
    @property
    def wins(self) -> tuple[int, int]:
        """Valid votes for (a, b)."""
        ...


def win_matrix(matches: Iterable[Played], players: Sequence[int]) -> np.ndarray:
    """``wins[i, j]``: the valid votes `players[i]` won against `players[j]` over `matches`
    (every match between two of `players`; the others are left out)."""
    seat = {player: i for i, player in enumerate(players)}
    wins = np.zeros((len(players), len(players)))
    for match in matches:
        if match.a in seat and match.b in seat:
            i, j = seat[match.a], seat[match.b]
            won_a, won_b = match.wins
            wins[i, j] += won_a
            wins[j, i] += won_b
    return wins


def to_elo(strengths: np.ndarray) -> np.ndarray:
    """Bradley-Terry strengths on the Elo scale."""
    return ELO_BASE + ELO_SCALE * np.asarray(strengths, dtype=float)


def online_elo(n: int, results: Sequence[tuple[int, int, float]], k: float = 32.0) -> np.ndarray:
    """Sequential Elo ratings after `results`, each (i, j, score of i: 1 win, 0.5 tie, 0 loss)."""
    ratings = np.full(n, ELO_BASE)
    for i, j, score in results:
        expected = 1.0 / (1.0 + 10.0 ** ((ratings[j] - ratings[i]) / 400.0))
        ratings[i] += k * (score - expected)
        ratings[j] -= k * (score - expected)
    return ratings
