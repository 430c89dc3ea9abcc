"""ELO round robin: every pair compared, win records turned into ratings, a full ranking."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

import numpy as np
from typing_extensions import Unpack

from rrm_select.errors import InvalidArgumentError
from rrm_select.fail_fast import gather_fail_fast
from rrm_select.judges.base import Judge
from rrm_select.ratings import bradley_terry, online_elo, to_elo, win_matrix
from rrm_select.selectors.answer_groups import cross_pairs
from rrm_select.selectors.base import Selector
from rrm_select.selectors.tournament import SelectorOptions, Tournament

Rating = Literal["bradley_terry", "online_elo"]


class EloSelector(Selector):
    """Round robin over all N(N-1)/2 pairs (costlier than knockout, at least as accurate).

    Every valid vote counts as one game. With ``order="both"`` every pair is judged in both
    orders. Ratings are on the Elo scale (1500 = average):

    - ``"bradley_terry"`` (default): the Bradley-Terry maximum-likelihood fit of all votes, with
      a light prior (`prior`) so an unbeaten candidate still gets a finite rating. It does not
      depend on the order in which matches finished.
    - ``"online_elo"``: sequential K-factor Elo (`k_factor`) over the matches in pair order,
      each scored by its share of valid votes.

    The ranking sorts by rating, then by valid votes won, then by position in the input.
    Every `Selector` option applies (votes, order, early_stop, budget, token_budget,
    deadline_s, thinking_budgets, seed).
    """

    method = "elo"

    def __init__(
        self,
        judge: Judge,
        *,
        rating: Rating = "bradley_terry",
        prior: float = 0.1,
        k_factor: float = 32.0,
        **options: Unpack[SelectorOptions],
    ) -> None:
        super().__init__(judge, **options)
        if self.rules["answer_prior"]:
            raise InvalidArgumentError("answer_prior weighs knockout decisions; elo ratings use the votes")
        if rating not in ("bradley_terry", "online_elo"):
            raise InvalidArgumentError(f"unknown rating {rating!r}; expected 'bradley_terry' or 'online_elo'")
        if prior <= 0 or k_factor <= 0:
            raise InvalidArgumentError(f"prior and k_factor must be > 0, got {prior!r} and {k_factor!r}")
        self.rating = rating
        self.prior = prior
        self.k_factor = k_factor

    def _planned(self, n: int, answers: Sequence[str | None] | None) -> int:
        return n * (n - 1) // 2 if answers is None else cross_pairs(answers)

    async def _tournament(self, t: Tournament) -> tuple[list[int], list[float]]:
        players = list(range(len(t.texts)))
        ratings, won = await round_robin(t, players, round=1, rating=self.rating, prior=self.prior, k=self.k_factor)
        ranking = sorted(players, key=lambda text: (-ratings[text], -won[text], text))
        return ranking, [float(r) for r in ratings]


async def round_robin(
    t: Tournament,
    players: list[int],
    *,
    round: int,
    rating: Rating = "bradley_terry",
    prior: float = 0.1,
    k: float = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Play every pair of `players` at once; their Elo-scale ratings and valid votes won, as
    arrays indexed like `players`."""
    n = len(players)
    pairs = list(itertools.combinations(range(n), 2))
    # Matches start (and so take the budget) in a seeded round-robin schedule: any prefix is a
    # balanced partial round robin, not the first candidates playing everyone.
    schedule = circle_schedule(n, t.rng(2, round))
    matches = await gather_fail_fast(
        *(t.play(players[i], players[j], round, (players[i], players[j])) for i, j in schedule)
    )
    wins = win_matrix(matches, players)
    if rating == "bradley_terry":
        ratings = to_elo(bradley_terry(wins, prior=prior))
    else:
        played = wins + wins.T
        results = [(i, j, wins[i, j] / played[i, j] if played[i, j] else 0.5) for i, j in pairs]
        ratings = online_elo(n, results, k=k)
    return ratings, wins.sum(axis=1)


def circle_schedule(n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Every pair of range(n) once, (low, high), as rounds of disjoint pairs (the circle method
    over a seeded shuffle): in its first r rounds everyone has played r times (byes aside)."""
    seats: list[int | None] = [int(i) for i in rng.permutation(n)] + ([None] if n % 2 else [])
    schedule = []
    for _ in range(len(seats) - 1):
        half = len(seats) // 2
        for a, b in zip(seats[:half], reversed(seats[half:])):
            if a is not None and b is not None:
                schedule.append((min(a, b), max(a, b)))
        seats = [seats[0], seats[-1], *seats[1:-1]]  # the first seat stays, the others rotate
    return schedule
