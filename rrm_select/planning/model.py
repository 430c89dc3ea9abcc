"""A fast simulation of the selectors' rules against the judge of `rrm_select.planning.judge`.

Each simulated selection draws N latent qualities; the true best is the highest. Matches are
played as `Tournament.play` plays them, vectorised over selections: each vote slot's order
drawn by the order policy (``random``: a coin per vote; ``alternate``: a coin, then alternating;
``both``: both orders), votes cast in waves as early stop says (``off``: all at once;
``decided``: the fewest that could settle the match, until the majority cannot change), the
match going to the candidate with more valid votes (a tie, or no valid vote, to a coin).
Tournaments follow the selectors: a knockout over a bracket with byes drawn at random slots,
stopping at `finalists` who then play a round robin ranked by Bradley-Terry; Swiss rounds of
equal records paired without rematches, ranked by Bradley-Terry; a round robin ranked by
Bradley-Terry (prior 0.1, as the selectors use). Requests, votes and waves are counted as the
match spends them; a round's latency is its slowest match's waves (every match of a round runs
at once: the judge's concurrency is assumed to be enough).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from rrm_select import EarlyStop, OrderPolicy
from rrm_select.planning.judge import JudgeFigures, pair_accuracy
from rrm_select.planning.rules import best_of
from rrm_select.ratings import bradley_terry
from rrm_select.selectors.swiss import swiss_pairs

Method = Literal["knockout", "swiss", "elo", "majority"]


class Setting(BaseModel):
    """One selector configuration the planner can predict."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method
    finalists: int = 1
    votes: int = 1
    order: OrderPolicy = "random"
    early_stop: EarlyStop = "off"
    answer_aware: bool = False
    """With an answer key: no call between two of one answer (knockout, one finalist)."""

    @property
    def label(self) -> str:
        if self.method == "majority":
            return "majority vote (no judge)"
        name = self.method if self.finalists == 1 else f"knockout+{self.finalists}"
        name += " aware" if self.answer_aware else ""
        return f"{name} k={self.votes} {self.order}" + (" decided" if self.early_stop == "decided" else "")


@dataclass
class Outcome:
    """What the simulated selections of one setting did (per selection arrays)."""

    correct: np.ndarray
    requests: np.ndarray
    votes: np.ndarray
    waves: np.ndarray
    """Waves along the tournament's rounds: each round counts its slowest match."""


@dataclass
class _Played:
    a_won: np.ndarray
    a_votes: np.ndarray
    b_votes: np.ndarray
    requests: np.ndarray
    votes: np.ndarray
    waves: np.ndarray


class Simulation:
    """Simulated selections among `n` candidates: the same qualities for every setting (common
    random numbers, so settings compare with less noise than their own standard errors)."""

    def __init__(self, judge: JudgeFigures, n: int, selections: int, seed: int = 0, labels: np.ndarray | None = None):
        """`labels`: each candidate's answer, 0 the right one (see `rrm_select.planning.answers`);
        the quality is then 1 for a right answer and 0 for a wrong one."""
        self.judge, self.n, self.selections, self.seed = judge, n, selections, seed
        self.labels = labels
        if labels is None:
            self.quality = np.random.default_rng([seed, 0]).normal(0.0, judge.spread, (selections, n))
        else:
            self.quality = (labels == 0).astype(float)
        self.best = self.quality.argmax(axis=1)
        self.totals = np.zeros((3, selections))

    def accuracy(self, qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
        """Merit accuracy of each pair: by the quality gap, or with answers the judge's merit
        accuracy between a right and a wrong answer and a coin toss between two alike."""
        if self.labels is None:
            return pair_accuracy(qa - qb, self.judge.ceiling)
        return np.where(qa != qb, self.judge.merit_accuracy, 0.5)

    def run(self, setting: Setting) -> Outcome:
        """Play `setting` over every simulated selection."""
        rng = np.random.default_rng([self.seed, 1])
        self.totals = np.zeros((3, self.selections))  # requests, votes, waves
        if setting.method == "elo" or (setting.method == "knockout" and setting.finalists >= self.n):
            pick = self._round_robin(setting, np.tile(np.arange(self.n), (self.selections, 1)), rng)
        elif setting.method == "knockout":
            pick = self._knockout(setting, rng)
        else:
            pick = self._swiss(setting, rng)
        requests, votes, waves = self.totals
        right = pick == self.best if self.labels is None else self.labels[np.arange(self.selections), pick] == 0
        return Outcome(right, requests, votes, waves)

    def _play(self, setting: Setting, a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> _Played:
        """Matches between players `a` and `b` (arrays of shape (selections, m)), one per cell;
        adds their cost to the totals (a round's waves: its slowest match's)."""
        shape = a.shape
        qa = np.take_along_axis(self.quality, a, axis=1).ravel()
        qb = np.take_along_axis(self.quality, b, axis=1).ravel()
        played = play_votes(self.judge, setting, qa, qb, rng, self.accuracy(qa, qb))
        self.totals[0] += played.requests.reshape(shape).sum(axis=1)
        self.totals[1] += played.votes.reshape(shape).sum(axis=1)
        self.totals[2] += played.waves.reshape(shape).max(axis=1)
        return _Played(*(x.reshape(shape) for x in (played.a_won, played.a_votes, played.b_votes, played.requests,
                                                     played.votes, played.waves)))  # fmt: skip

    def _knockout(self, setting: Setting, rng: np.random.Generator) -> np.ndarray:
        s, n = self.selections, self.n
        rounds = math.ceil(math.log2(n))
        slots = 2**rounds // 2
        byes = np.argsort(rng.random((s, slots)), axis=1)[:, : 2**rounds - n]
        single = np.zeros((s, slots), dtype=bool)
        np.put_along_axis(single, byes, True, axis=1)
        # The candidates fill the slots in order (the qualities are exchangeable, so no shuffle).
        start = np.cumsum(np.where(single, 1, 2), axis=1) - np.where(single, 1, 2)
        alive = np.stack([start, np.where(single, -1, start + 1)], axis=2).reshape(s, 2**rounds)
        while alive.shape[1] > setting.finalists:
            a, b = alive[:, 0::2], alive[:, 1::2]
            bye = b < 0
            b_safe = np.where(bye, a, b)
            result = self._play_some(setting, a, b_safe, ~bye, rng)
            alive = np.where(bye | result, a, b)
        if setting.finalists == 1:
            return alive[:, 0]
        return self._round_robin(setting, alive, rng)

    def _play_some(
        self, setting: Setting, a: np.ndarray, b: np.ndarray, real: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Whether `a` wins each match; cells where not `real` (a bye) cost nothing."""
        if real.all():
            return self._play(setting, a, b, rng).a_won
        qa = np.take_along_axis(self.quality, a, axis=1)[real]
        qb = np.take_along_axis(self.quality, b, axis=1)[real]
        played = play_votes(self.judge, setting, qa, qb, rng, self.accuracy(qa, qb))
        won = np.ones(a.shape, dtype=bool)
        won[real] = played.a_won
        for row, values in enumerate((played.requests, played.votes)):
            cell = np.zeros(a.shape)
            cell[real] = values
            self.totals[row] += cell.sum(axis=1)
        cell = np.zeros(a.shape)
        cell[real] = played.waves
        self.totals[2] += cell.max(axis=1)
        return won

    def _round_robin(self, setting: Setting, players: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Every pair of `players` (selections, m) once, in one round; the Bradley-Terry best."""
        m = players.shape[1]
        i, j = np.triu_indices(m, 1)
        played = self._play(setting, players[:, i], players[:, j], rng)
        wins = np.zeros((self.selections, m, m))
        wins[:, i, j], wins[:, j, i] = played.a_votes, played.b_votes
        best = best_of(bradley_terry(wins), wins.sum(axis=2))
        return np.take_along_axis(players, best[:, None], axis=1)[:, 0]

    def _swiss(self, setting: Setting, rng: np.random.Generator) -> np.ndarray:
        s, n = self.selections, self.n
        rounds = min(math.ceil(math.log2(n)) + 1, n - 1)
        points = np.zeros((s, n))
        met: list[set[frozenset[int]]] = [set() for _ in range(s)]
        sat_out = [[0] * n for _ in range(s)]
        wins = np.zeros((s, n, n))
        rows = np.arange(s)[:, None]
        for _ in range(rounds):
            pairs = np.array([swiss_pairs(points[k].tolist(), met[k], sat_out[k], rng) for k in range(s)])
            a, b = pairs[:, :, 0], pairs[:, :, 1]
            played = self._play(setting, a, b, rng)
            for k in range(s):
                met[k].update(frozenset(pair) for pair in pairs[k].tolist())
            np.add.at(points, (np.broadcast_to(rows, a.shape), np.where(played.a_won, a, b)), 1)
            np.add.at(wins, (np.broadcast_to(rows, a.shape), a, b), played.a_votes)
            np.add.at(wins, (np.broadcast_to(rows, a.shape), b, a), played.b_votes)
        return best_of(bradley_terry(wins), points)


def play_votes(
    judge: JudgeFigures,
    setting: Setting,
    qa: np.ndarray,
    qb: np.ndarray,
    rng: np.random.Generator,
    accuracy: np.ndarray,
) -> _Played:
    """Matches between qualities `qa` and `qb` (flat arrays), vote by vote; `accuracy`: each
    pair's merit accuracy."""
    m, k = len(qa), setting.votes
    per_slot = 2 if setting.order == "both" else 1
    if setting.order == "both":
        swapped = np.broadcast_to(np.array([False, True]), (m, k, 2))
    elif setting.order == "alternate":
        swapped = ((rng.random((m, 1)) < 0.5) ^ (np.arange(k) % 2 == 1))[:, :, None]
    else:
        swapped = rng.random((m, k, 1)) < 0.5
    draws = rng.random((3, m, k, per_slot))
    abstains = draws[0] < judge.abstain
    positional = draws[1] < judge.positional
    right = draws[2] < accuracy[:, None, None]
    for_a = np.where(positional, ~swapped == (judge.bias >= 0.5), right == (qa > qb)[:, None, None])
    zero = np.zeros((m, 1))
    won_a = np.concatenate([zero, np.cumsum((~abstains & for_a).sum(axis=2), axis=1)], axis=1)
    won_b = np.concatenate([zero, np.cumsum((~abstains & ~for_a).sum(axis=2), axis=1)], axis=1)
    first_swapped = np.concatenate([zero, np.cumsum(swapped[:, :, 0], axis=1)], axis=1)
    rows = np.arange(m)
    cast = np.zeros(m, dtype=int)
    requests, waves = np.zeros(m), np.zeros(m)
    while True:
        left = k - cast
        if setting.early_stop == "off":
            size = left
        else:
            a_now, b_now = won_a[rows, cast], won_b[rows, cast]
            lead, trail = np.maximum(a_now, b_now), np.minimum(a_now, b_now)
            reach = trail + left * per_slot
            size = np.where(lead > reach, 0, np.minimum(left, (reach - lead) // (2 * per_slot) + 1)).astype(int)
        if not size.any():
            break
        if per_slot == 2:
            requests += np.where(size > 0, 2, 0)
        else:
            shown = first_swapped[rows, cast + size] - first_swapped[rows, cast]
            requests += (shown > 0).astype(float) + (shown < size)
        waves += size > 0
        cast = cast + size
    a_votes, b_votes = won_a[rows, cast], won_b[rows, cast]
    coin = rng.random(m) < 0.5
    a_won = (a_votes > b_votes) | ((a_votes == b_votes) & coin)
    return _Played(a_won, a_votes, b_votes, requests, cast * float(per_slot), waves)
