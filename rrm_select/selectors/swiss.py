"""Swiss rounds: a few rounds in which candidates with the same record meet, then ratings.

Each round pairs candidates with equal (or nearest) records, never the same two twice, so the
strong quickly face the strong: after about log2 N rounds one candidate is unbeaten, and the
extra rounds let a strong candidate that lost once catch up. It costs rounds x floor(N/2)
matches: between a knockout (N - 1) and a round robin (N(N-1)/2), and unlike a knockout every
candidate plays every round, so one unlucky verdict does not end a candidate's chances.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from typing_extensions import Unpack

from rrm_select.errors import InvalidArgumentError
from rrm_select.fail_fast import gather_fail_fast
from rrm_select.judges.base import Judge
from rrm_select.ratings import bradley_terry, to_elo, win_matrix
from rrm_select.selectors.answer_groups import largest_group
from rrm_select.selectors.base import Selector
from rrm_select.selectors.tournament import Outcome, SelectorOptions, Tournament


def swiss_pairs(
    points: list[float], played: set[frozenset[int]], sat_out: list[int], rng: np.random.Generator
) -> list[tuple[int, int]]:
    """One round's pairs: by points, best first (a seeded shuffle orders equal records), each
    with the nearest candidate below it that it has not met yet. With odd N the lowest-placed
    candidate among those that sat out least often sits this round out (counted in `sat_out`),
    so the leaders keep playing and nobody waits twice while others have not waited once."""
    order = sorted(rng.permutation(len(points)).tolist(), key=lambda c: -points[c])
    if len(order) % 2:
        fewest = min(sat_out)
        resting = next(c for c in reversed(order) if sat_out[c] == fewest)
        order.remove(resting)
        sat_out[resting] += 1
    pairs = []
    while order:
        a = order.pop(0)
        # A rematch only when every remaining opponent has been met already.
        b = next((c for c in order if frozenset((a, c)) not in played), order[0])
        order.remove(b)
        pairs.append((a, b))
    return pairs


class SwissSelector(Selector):
    """Swiss-system tournament over `rounds` rounds (default ceil(log2 N) + 1), ranked by the
    Bradley-Terry fit of all votes (ties by matches won, then input position).

    Every `Selector` option applies (votes, order, early_stop, budget, token_budget, deadline_s,
    thinking_budgets, seed). `scores` are the ratings on the Elo scale, as for `EloSelector`.
    """

    method = "swiss"

    def __init__(self, judge: Judge, *, rounds: int | None = None, **options: Unpack[SelectorOptions]) -> None:
        super().__init__(judge, **options)
        if self.rules["answer_prior"]:
            raise InvalidArgumentError("answer_prior weighs knockout decisions; swiss ratings use the votes")
        if rounds is not None and (not isinstance(rounds, int) or rounds < 1):
            raise InvalidArgumentError(f"rounds must be an integer >= 1 or None, got {rounds!r}")
        self.rounds = rounds

    def _rounds(self, n: int) -> int:
        return min(self.rounds or math.ceil(math.log2(n)) + 1, n - 1)

    def _planned(self, n: int, answers: Sequence[str | None] | None) -> int:
        # A judged pair needs a player outside the largest answer group.
        outside = n if answers is None else n - largest_group(answers)
        return self._rounds(n) * min(n // 2, outside)

    async def _tournament(self, t: Tournament) -> tuple[list[int], list[float]]:
        n = len(t.texts)
        rounds = self._rounds(n)
        points = [0.0] * n
        sat_out = [0] * n
        # Two of one answer are paired only when nothing else is left (and then not judged).
        played: set[frozenset[int]] = {frozenset((a, b)) for a in range(n) for b in range(a) if t.same_answer(a, b)}
        judged: list[Outcome] = []
        for round in range(1, rounds + 1):
            pairs = swiss_pairs(points, played, sat_out, t.rng(0, round))
            matches = await gather_fail_fast(*(t.play(a, b, round, (round, a, b)) for a, b in pairs))
            for match in matches:
                played.add(frozenset((match.a, match.b)))
                points[match.winner] += 0 if t.same_answer(match.a, match.b) else 1  # no contest, no point
            judged += matches
        ratings = to_elo(bradley_terry(win_matrix(judged, range(n))))
        ranking = sorted(range(n), key=lambda c: (-ratings[c], -points[c], c))
        return ranking, [float(r) for r in ratings]
