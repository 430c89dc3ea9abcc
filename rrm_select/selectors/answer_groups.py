"""Selection with an answer key: candidates that give the same answer are not judged against each
other, and the selection ends once one answer is left.

The knockout is played round by round over the candidates still in: each round pairs them so
that as few pairs as possible share an answer (one of the largest answer group against one of
the next largest, repeatedly; an odd one out sits the round out, from the largest group). A pair
that still shares an answer is decided without a call (``same_answer``), for the one that has won
more valid votes so far. It stops as soon as every candidate still in gives the same answer.
Candidates without an answer (the key found none) take part as usual, each its own group.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from rrm_select.fail_fast import gather_fail_fast
from rrm_select.selectors.tournament import Tournament, WithinAnswer


def groups_left(t: Tournament, players: Sequence[int]) -> int:
    """How many different answers `players` give (each player without one counts alone)."""
    assert t.answers is not None
    return len({t.answers[p] if t.answers[p] is not None else ("none", p) for p in players})


def pair_across(
    players: Sequence[int], answer: Callable[[int], str | None], rng: np.random.Generator
) -> tuple[list[tuple[int, int]], int | None]:
    """One round's pairs (those of different answers first) and the player sitting it out."""
    groups: dict[object, list[int]] = {}
    for i in rng.permutation(len(players)):
        player = players[int(i)]
        found = answer(player)
        groups.setdefault(found if found is not None else ("none", player), []).append(player)
    bye = max(groups.values(), key=len).pop() if len(players) % 2 else None
    pairs = []
    while len(live := sorted((g for g in groups.values() if g), key=len, reverse=True)) >= 2:
        pairs.append((live[0].pop(0), live[1].pop(0)))
    leftover = next((g for g in groups.values() if g), [])
    pairs.extend(zip(leftover[::2], leftover[1::2], strict=False))  # one answer: decided without a call
    return pairs, bye


async def answer_knockout(t: Tournament, finalists: int) -> tuple[list[int], dict[int, float], dict[int, float], int]:
    """Rounds until `finalists` are left or one answer is: the players still in, the round each
    other player lost in, its share of valid votes in that match, and the rounds played."""
    assert t.answers is not None
    answers = t.answers
    alive = list(range(len(t.texts)))
    reached = {player: 1.0 for player in alive}
    share = {player: 0.0 for player in alive}
    round = 0
    while len(alive) > finalists and groups_left(t, alive) > 1:
        round += 1
        pairs, bye = pair_across(alive, answers.__getitem__, t.rng(4, round))
        # Only as many matches as take the field down to the finalists; the rest sit out.
        played, resting = pairs[: len(alive) - finalists], pairs[len(alive) - finalists :]
        outcomes = await gather_fail_fast(*(t.play(a, b, round, (round, a, b, 1)) for a, b in played))
        alive = [o.winner for o in outcomes] + [p for pair in resting for p in pair] + ([bye] if bye is not None else [])
        for outcome in outcomes:
            if t.same_answer(outcome.a, outcome.b):
                continue  # not beaten: it goes as far as the one it let through (see passed_on)
            reached[outcome.loser] = float(round)
            won = dict(zip((outcome.a, outcome.b), outcome.wins, strict=True))
            share[outcome.loser] = won[outcome.loser] / max(1, sum(won.values()))
    return alive, reached, share, round


def passed_on(t: Tournament, reached: dict[int, float], share: dict[int, float]) -> None:
    """A player that went out in a same-answer match, without a call, was not beaten: it gets
    the round and vote share of the one it let through (in the end, of the one that was), so the
    ranking and the scores claim no preference the judge never gave."""
    through = {o.loser: o.winner for o in t.outcomes.values() if t.same_answer(o.a, o.b)}
    for player in through:
        last = player
        while last in through:
            last = through[last]
        reached[player], share[player] = reached[last], share[last]


def largest_group(answers: Sequence[str | None]) -> int:
    """The size of the largest answer group (a player without an answer is a group of one)."""
    return max(Counter(a for a in answers if a is not None).values(), default=1 if answers else 0)


async def best_of_answer(t: Tournament, ranking: list[int], within: WithinAnswer) -> list[int]:
    """`ranking` with the winning answer's chosen member first (see `WithinAnswer`). The members
    that contend are those no other answer has beaten (`Tournament.contenders`); in a round
    robin or Swiss, where no one is eliminated, the ratings already order them, so ``"votes"``
    keeps the top-rated member."""
    assert t.answers is not None
    answer = t.answers[ranking[0]]
    members = [p for p in ranking if answer is not None and t.answers[p] == answer]
    if t.contenders is not None:
        members = [p for p in members if p in t.contenders]
    if len(members) < 2 or (within == "votes" and t.contenders is None):
        return ranking
    if within == "votes":
        best = max(members, key=lambda p: (t.votes_won(p), -t.candidate_of[p]))
    else:
        best = await short_final(t, members)
    return [best] + [p for p in ranking if p != best]


async def short_final(t: Tournament, members: list[int]) -> int:
    """A knockout among `members` (one answer), judged after the rest of the selection."""
    round = 1 + max((m.round for m in t.matches.values()), default=0)
    alive = [members[int(i)] for i in t.rng(5).permutation(len(members))]
    while len(alive) > 1:
        pairs = list(zip(alive[::2], alive[1::2], strict=False))
        outcomes = await gather_fail_fast(*(t.play(a, b, round, (round, a, b, 2), judge_same=True) for a, b in pairs))
        alive = [o.winner for o in outcomes] + alive[len(pairs) * 2 :]
        round += 1
    return alive[0]


def knockout_bound(answers: Sequence[str | None], finalists: int = 1) -> int:
    """The most judged matches of an answer-aware knockout down to `finalists` (see the module
    docstring): every elimination but the first round's forced same-answer pairs."""
    n = len(answers)
    sizes = Counter(a for a in answers if a is not None)
    largest = max(sizes.values(), default=1)
    if n < 2 or largest == n:
        return 0
    forced = max(0, (largest - (n - largest) - n % 2) // 2)
    return max(0, n - finalists - forced)


def cross_pairs(answers: Sequence[str | None]) -> int:
    """Pairs of `answers` that differ (a missing answer differs from every other)."""
    n = len(answers)
    same = sum(k * (k - 1) // 2 for k in Counter(a for a in answers if a is not None).values())
    return n * (n - 1) // 2 - same


def final_bound(answers: Sequence[str | None], within: WithinAnswer) -> int:
    """The most matches `within_answer="judge"` adds: a knockout among the largest answer group."""
    return max(0, largest_group(answers) - 1) if within == "judge" else 0
