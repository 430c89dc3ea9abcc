"""Knockout tournament: N-1 matches over ceil(log2 N) rounds, winners advance.

The bracket is a complete binary tree over `2**rounds` positions. Candidates are shuffled by
the seed; when N is not a power of two, `2**rounds - N` first-round slots drawn at random hold a
single candidate who advances without a match (a bye), so byes are spread over the bracket and
two byes never meet. A match starts as soon as both of its entrants are known, without waiting
for the rest of its round.

With `finalists` > 1 the knockout stops when that many candidates are left (the winners of the
bracket's `finalists` sub-brackets), and they play a round robin: N - finalists knockout
matches plus finalists * (finalists - 1) / 2 round-robin matches, e.g. N + 2 for 4 finalists.
A single knockout match decides the final with one judge's noisy verdict; the round robin lets
the best candidate lose a match and still win.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from typing_extensions import Unpack

from rrm_select.errors import InvalidArgumentError
from rrm_select.fail_fast import gather_fail_fast
from rrm_select.judges.base import Judge
from rrm_select.selectors.answer_groups import answer_knockout, groups_left, knockout_bound, passed_on
from rrm_select.selectors.base import Selector
from rrm_select.selectors.tournament import SelectorOptions, Tournament
from rrm_select.selectors.elo import round_robin


def build_bracket(n: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """First-round slots, left to right: each holds two entrants (a match) or one (a bye)."""
    rounds = math.ceil(math.log2(n)) if n > 1 else 0
    slots = 2**rounds // 2
    entrants = [int(i) for i in rng.permutation(n)]
    byes = {int(s) for s in rng.choice(slots, size=2**rounds - n, replace=False)} if slots else set()
    bracket = []
    for slot in range(max(slots, 1)):
        take = 1 if slot in byes or n == 1 else 2
        bracket.append(tuple(entrants[:take]))
        entrants = entrants[take:]
    return bracket


class KnockoutSelector(Selector):
    """Single-elimination knockout (the RRM paper's cheapest tournament: N-1 matches), or with
    `finalists` (a power of two) a knockout down to that many, then a round robin among them.

    Ranking: the champion (or the finalists by Bradley-Terry rating), then the other candidates
    by the round in which they lost (latest first), then by their share of valid votes in the
    match they lost. `scores` gives the last round each candidate reached (the champion: rounds
    + 1; a finalist: the final round plus its share of round-robin votes won). Every `Selector`
    option applies (votes, order, early_stop, budget, token_budget, deadline_s, thinking_budgets,
    seed).
    """

    method = "knockout"

    def __init__(self, judge: Judge, *, finalists: int = 1, **options: Unpack[SelectorOptions]) -> None:
        super().__init__(judge, **options)
        if self.rules["answer_prior"] and finalists != 1:
            raise InvalidArgumentError("answer_prior weighs knockout decisions; the finalists' ratings use the votes")
        if not isinstance(finalists, int) or finalists < 1 or finalists & (finalists - 1):
            raise InvalidArgumentError(f"finalists must be a power of two (1, 2, 4, 8, ...), got {finalists!r}")
        self.finalists = finalists

    def _planned(self, n: int, answers: Sequence[str | None] | None) -> int:
        finalists = min(self.finalists, n)
        if answers is None or not any(a is not None for a in answers):
            return n - finalists + finalists * (finalists - 1) // 2
        return knockout_bound(answers, finalists) + finalists * (finalists - 1) // 2

    async def _tournament(self, t: Tournament) -> tuple[list[int], list[float]]:
        n = len(t.texts)
        if self.finalists >= n and self.finalists > 1:  # too few for a knockout stage
            return await self._final(t, list(range(n)), {text: 1.0 for text in range(n)}, {}, round=1)
        if t.answers is not None and t.arrivals is None:
            return await self._by_answers(t)
        bracket = build_bracket(n, t.rng(0))
        rounds = int(math.log2(len(bracket))) + 1
        # Heap numbering: node 1 is the final, node v's feeders are 2v and 2v+1, the
        # first-round slots are nodes len(bracket) .. 2*len(bracket)-1.

        async def winner_of(node: int, round: int) -> int:
            if node >= len(bracket):
                slot = bracket[node - len(bracket)]
                if len(slot) == 1:
                    return slot[0]
                a, b = slot
            else:
                a, b = await gather_fail_fast(winner_of(2 * node, round - 1), winner_of(2 * node + 1, round - 1))
            return (await t.play(a, b, round, (node,))).winner

        # The finalists win nodes finalists .. 2*finalists-1, whose matches are played in round
        # rounds - log2(finalists); with one finalist that is node 1, the final.
        stage = rounds - int(math.log2(self.finalists))
        finalists = list(
            await gather_fail_fast(*(winner_of(node, stage) for node in range(self.finalists, 2 * self.finalists)))
        )
        reached = {text: 1.0 for text in range(n)}
        share = {text: 0.0 for text in range(n)}
        for match in t.outcomes.values():
            reached[match.loser] = float(match.round)
            wins = dict(zip((match.a, match.b), match.wins, strict=True))
            share[match.loser] = wins[match.loser] / max(1, sum(wins.values()))
        if len(finalists) == 1:
            reached[finalists[0]] = float(rounds + 1)
            ranking = sorted(reached, key=lambda text: (-reached[text], -share[text], text))
            return ranking, [reached[text] for text in range(n)]
        return await self._final(t, finalists, reached, share, round=stage + 1)

    async def _by_answers(self, t: Tournament) -> tuple[list[int], list[float]]:
        """The answer-aware knockout (see `rrm_select.selectors.answer_groups`); with candidates
        still arriving the bracket is drawn up front instead, and only a match between two of one
        answer is skipped."""
        alive, reached, share, rounds = await answer_knockout(t, self.finalists)
        if len(alive) > 1 and groups_left(t, alive) > 1:
            return await self._final(t, alive, reached, share, round=rounds + 1)
        for player in alive:
            reached[player] = float(rounds + 1)
        passed_on(t, reached, share)
        t.contenders = [p for p in reached if reached[p] == rounds + 1]
        ranking = sorted(reached, key=lambda p: (-reached[p], -t.votes_won(p), -share[p], p))
        return ranking, [reached[p] for p in range(len(t.texts))]

    async def _final(
        self,
        t: Tournament,
        finalists: list[int],
        reached: dict[int, float],
        share: dict[int, float],
        *,
        round: int,
    ) -> tuple[list[int], list[float]]:
        """The round robin among `finalists`, then everyone else as the knockout left them
        (`reached` and `share` as in `_tournament`; `reached` is updated for the finalists)."""
        ratings, won = await round_robin(t, finalists, round=round)
        games = max(1.0, float(won.sum()))
        order = sorted(range(len(finalists)), key=lambda i: (-ratings[i], -won[i], finalists[i]))
        for i, text in enumerate(finalists):
            reached[text] = round + won[i] / games
        rest = sorted(set(reached) - set(finalists), key=lambda text: (-reached[text], -share.get(text, 0.0), text))
        return [finalists[i] for i in order] + rest, [reached[text] for text in range(len(t.texts))]
