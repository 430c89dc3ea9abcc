"""ELO round robin: every pair compared, win records turned into ratings, a full ranking."""

from __future__ import annotations

import asyncio
import itertools
from typing import Literal

import numpy as np

from rrm_select.errors import InvalidArgumentError
from rrm_select.judges.base import Judge
from rrm_select.ratings import bradley_terry, online_elo, to_elo
from rrm_select.selectors.base import Selector, Tournament
from rrm_select.voting import OrderPolicy

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
    """

    method = "elo"

    def __init__(
        self,
        judge: Judge,
        *,
        votes: int = 1,
        order: OrderPolicy = "random",
        seed: int | None = None,
        rating: Rating = "bradley_terry",
        prior: float = 0.1,
        k_factor: float = 32.0,
    ) -> None:
        super().__init__(judge, votes=votes, order=order, seed=seed)
        if rating not in ("bradley_terry", "online_elo"):
            raise InvalidArgumentError(f"unknown rating {rating!r}; expected 'bradley_terry' or 'online_elo'")
        if prior <= 0 or k_factor <= 0:
            raise InvalidArgumentError(f"prior and k_factor must be > 0, got {prior!r} and {k_factor!r}")
        self.rating = rating
        self.prior = prior
        self.k_factor = k_factor

    async def _tournament(self, t: Tournament) -> tuple[list[int], list[float]]:
        n = len(t.texts)
        pairs = list(itertools.combinations(range(n), 2))
        matches = await asyncio.gather(*(t.play(a, b, 1, (a, b)) for a, b in pairs))
        wins = np.zeros((n, n))
        for match in matches:
            wins[match.a, match.b], wins[match.b, match.a] = match.wins
        if self.rating == "bradley_terry":
            ratings = to_elo(bradley_terry(wins, prior=self.prior))
        else:
            played = wins + wins.T
            results = [(a, b, wins[a, b] / played[a, b] if played[a, b] else 0.5) for a, b in pairs]
            ratings = online_elo(n, results, k=self.k_factor)
        won = wins.sum(axis=1)
        ranking = sorted(range(n), key=lambda text: (-ratings[text], -won[text], text))
        return ranking, [float(r) for r in ratings]
