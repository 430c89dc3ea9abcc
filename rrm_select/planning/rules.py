"""The selectors' rules the simulation replays, batched over selections where it can: Swiss
pairing (`SwissSelector`'s), the penalised Bradley-Terry fit (`rrm_select.ratings`'s) and the
pick of the top-rated."""

from __future__ import annotations

import numpy as np


def swiss_pairs(points: np.ndarray, met: np.ndarray, sat_out: np.ndarray, rng: np.random.Generator) -> list[list[int]]:
    """One Swiss round's pairs as `SwissSelector` draws them (updates `sat_out`)."""
    order = sorted(rng.permutation(len(points)).tolist(), key=lambda c: -points[c])
    if len(order) % 2:
        fewest = sat_out.min()
        resting = next(c for c in reversed(order) if sat_out[c] == fewest)
        order.remove(resting)
        sat_out[resting] += 1
    pairs = []
    while order:
        a = order.pop(0)
        b = next((c for c in order if not met[a, c]), order[0])
        order.remove(b)
        pairs.append([a, b])
    return pairs


def best_of(ratings: np.ndarray, tie_break: np.ndarray) -> np.ndarray:
    """Per row, the highest rating (ties within 1e-9: the larger `tie_break`, then the first)."""
    top = ratings >= ratings.max(axis=1, keepdims=True) - 1e-9
    return np.where(top, tie_break, -np.inf).argmax(axis=1)


def bradley_terry(wins: np.ndarray, prior: float = 0.1, tol: float = 1e-10, max_iter: int = 100) -> np.ndarray:
    """The penalised Bradley-Terry fit of the selectors (`rrm_select.ratings`), batched over the
    first axis: strengths (natural-log scale) of each (m, m) win matrix."""
    games = wins + wins.transpose(0, 2, 1)
    s = np.zeros(wins.shape[:2])
    eye = np.eye(wins.shape[1])
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(s[:, None, :] - s[:, :, None]))
        gradient = (wins - games * p).sum(axis=2) - prior * s
        weight = games * p * (1.0 - p)
        hessian = weight - eye * (weight.sum(axis=2) + prior)[:, :, None]
        step = np.linalg.solve(hessian, gradient[:, :, None])[:, :, 0]
        s -= step
        if np.abs(step).max() < tol:
            break
    return s - s.mean(axis=1, keepdims=True)
