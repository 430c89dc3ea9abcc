"""Knockout tournament: N-1 matches over ceil(log2 N) rounds, winners advance.

The bracket is a complete binary tree over `2**rounds` positions. Candidates are shuffled by
the seed; when N is not a power of two, `2**rounds - N` first-round slots drawn at random hold a
single candidate who advances without a match (a bye), so byes are spread over the bracket and
two byes never meet. A match starts as soon as both of its entrants are known, without waiting
for the rest of its round.
"""

from __future__ import annotations

import asyncio
import math

import numpy as np

from rrm_select.selectors.base import Selector, Tournament


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
    """Single-elimination knockout (the RRM paper's cheapest tournament: N-1 matches).

    Ranking: the champion, then the other candidates by the round in which they lost (latest
    first), then by their share of valid votes in the match they lost. `scores` gives the last
    round each candidate reached (the champion: rounds + 1).
    """

    method = "knockout"

    async def _tournament(self, t: Tournament) -> tuple[list[int], list[float]]:
        bracket = build_bracket(len(t.texts), t.rng(0))
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
                a, b = await asyncio.gather(winner_of(2 * node, round - 1), winner_of(2 * node + 1, round - 1))
            return (await t.play(a, b, round, (node,))).winner

        champion = await winner_of(1, rounds)
        reached = {text: 1.0 for text in range(len(t.texts))}
        share = {text: 0.0 for text in range(len(t.texts))}
        for match in t.matches.values():
            reached[match.loser] = float(match.round)
            wins = dict(zip((match.a, match.b), match.wins, strict=True))
            share[match.loser] = wins[match.loser] / max(1, sum(wins.values()))
        reached[champion] = float(rounds + 1)
        ranking = sorted(reached, key=lambda text: (-reached[text], -share[text], text))
        return ranking, [reached[text] for text in range(len(t.texts))]
