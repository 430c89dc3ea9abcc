"""A fast simulation of the selectors' rules against the judge of `rrm_select.planning.judge`.

Each simulated selection draws N latent qualities (standard normal; each judge sees pairs
`JudgeFigures.spread` times their gap apart); the true best is the highest. Matches are played
as `Tournament.play` plays them, vectorised over selections (`rrm_select.planning.votes`: orders,
waves, early stop and escalation over thinking budgets, each vote by the judge calibrated at its
budget). Tournaments follow the selectors: a knockout over a bracket with byes drawn at random slots,
stopping at `finalists` who then play a round robin ranked by Bradley-Terry; Swiss rounds of
equal records paired without rematches, ranked by Bradley-Terry; a round robin ranked by
Bradley-Terry (prior 0.1, as the selectors use). Requests, votes, tokens and waves are counted as
the match spends them; a round's waves and latency are its slowest match's (every match of a
round runs at once: the judge's concurrency is assumed to be enough).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rrm_select import InvalidArgumentError
from rrm_select.planning.judge import JudgeFigures, pair_accuracy
from rrm_select.planning.rules import best_of
from rrm_select.planning.setting import Setting
from rrm_select.planning.votes import Played, play_votes
from rrm_select.ratings import bradley_terry
from rrm_select.selectors.swiss import swiss_pairs

SUMMED, SLOWEST = (0, 1, 3), (2, 4)
"""The rows of `Simulation.totals` (requests, votes, waves, tokens, latency) a round adds up
over its matches, and those it takes from its slowest match."""


@dataclass
class Outcome:
    """What the simulated selections of one setting did (per selection arrays)."""

    correct: np.ndarray
    requests: np.ndarray
    votes: np.ndarray
    waves: np.ndarray
    """Waves along the tournament's rounds: each round counts its slowest match."""
    tokens: np.ndarray
    latency: np.ndarray
    """Seconds of judging along the rounds (each round's slowest match)."""


class Simulation:
    """Simulated selections among `n` candidates: the same qualities for every setting (common
    random numbers, so settings compare with less noise than their own standard errors)."""

    def __init__(
        self,
        judges: Sequence[JudgeFigures],
        n: int,
        selections: int,
        seed: int = 0,
        labels: np.ndarray | None = None,
    ) -> None:
        """`judges`: the judge at each calibrated thinking budget (one: the judge). `labels`: each
        candidate's answer, 0 the right one (see `rrm_select.planning.answers`); the quality is
        then 1 for a right answer and 0 for a wrong one."""
        self.judges, self.n, self.selections, self.seed = tuple(judges), n, selections, seed
        self.labels = labels
        if labels is None:
            self.quality = np.random.default_rng([seed, 0]).normal(0.0, 1.0, (selections, n))
        else:
            self.quality = (labels == 0).astype(float)
        self.best = self.quality.argmax(axis=1)
        self.totals = np.zeros((5, selections))

    def judge_at(self, budget: int | None) -> JudgeFigures:
        """The judge calibrated at thinking budget `budget` (None, with one judge: that one)."""
        if budget is None and len(self.judges) == 1:
            return self.judges[0]
        for judge in self.judges:
            if judge.thinking_budget == budget:
                return judge
        calibrated = ", ".join(str(j.thinking_budget) for j in self.judges)
        raise InvalidArgumentError(f"no calibration at thinking budget {budget} (calibrated: {calibrated})")

    def levels(self, setting: Setting) -> list[JudgeFigures]:
        """The judge at each budget `setting`'s waves can take: its escalation's, or its one."""
        budgets = setting.thinking_budgets or (setting.thinking_budget,)
        return [self.judge_at(b) for b in budgets]

    def accuracy(self, judge: JudgeFigures, qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
        """`judge`'s merit accuracy on each pair: by the quality gap, or with answers its merit
        accuracy between a right and a wrong answer and a coin toss between two alike."""
        if self.labels is None:
            return pair_accuracy(judge.spread * (qa - qb), judge.ceiling)
        return np.where(qa != qb, judge.merit_accuracy, 0.5)

    def play_flat(self, setting: Setting, qa: np.ndarray, qb: np.ndarray, rng: np.random.Generator) -> Played:
        """Matches between qualities `qa` and `qb` (flat arrays), at `setting`'s budgets."""
        levels = self.levels(setting)
        return play_votes(levels, setting, qa, qb, rng, [self.accuracy(j, qa, qb) for j in levels])

    def run(self, setting: Setting) -> Outcome:
        """Play `setting` over every simulated selection."""
        rng = np.random.default_rng([self.seed, 1])
        self.totals = np.zeros((5, self.selections))
        if setting.method == "elo" or (setting.method == "knockout" and setting.finalists >= self.n):
            pick = self._round_robin(setting, np.tile(np.arange(self.n), (self.selections, 1)), rng)
        elif setting.method == "knockout":
            pick = self._knockout(setting, rng)
        else:
            pick = self._swiss(setting, rng)
        right = pick == self.best if self.labels is None else self.labels[np.arange(self.selections), pick] == 0
        return Outcome(right, *self.totals)

    def add(self, played: Played, selection: np.ndarray) -> None:
        """Add a round's matches to the totals; `selection[i]`: the selection match i is in. A
        round adds up its matches' requests, votes and tokens, and takes its waves and latency
        from its slowest match (`SUMMED`, `SLOWEST`)."""
        for row, values in enumerate((played.requests, played.votes, played.waves, played.tokens, played.latency)):
            if row in SUMMED:
                np.add.at(self.totals[row], selection, values)
            else:
                slowest = np.zeros(self.selections)
                np.maximum.at(slowest, selection, values)
                self.totals[row] += slowest

    def _play(self, setting: Setting, a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> Played:
        """Matches between players `a` and `b` (arrays of shape (selections, m)), one per cell;
        adds their cost to the totals."""
        qa = np.take_along_axis(self.quality, a, axis=1).ravel()
        qb = np.take_along_axis(self.quality, b, axis=1).ravel()
        played = self.play_flat(setting, qa, qb, rng)
        self.add(played, np.repeat(np.arange(self.selections), a.shape[1]))  # `ravel`'s order
        return Played(*(x.reshape(a.shape) for x in vars(played).values()))

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
        played = self.play_flat(setting, qa, qb, rng)
        won = np.ones(a.shape, dtype=bool)
        won[real] = played.a_won
        self.add(played, np.nonzero(real)[0])  # the order `[real]` picked them in
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
