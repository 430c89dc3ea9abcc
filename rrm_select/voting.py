"""Majority voting for one match: which order each vote sees, when to stop, how votes decide.

Order policies (`OrderPolicy`), for a match of `k` votes between candidates a and b:

- ``"random"``: a fair coin per vote decides which candidate is shown first, as in the RRM
  paper. Votes that drew the same order share one request (`n` = their count), so a match costs
  one request when all coins agree and two otherwise.
- ``"per_match"``: one coin for the whole match; all k votes in one request with `n=k`.
  Cheapest, but every vote shares the same position bias.
- ``"alternate"``: a coin for the first vote, then orders alternate, so position bias cancels
  as far as k allows (two requests of ceil(k/2) and floor(k/2) votes).
- ``"both"``: every vote is taken in both orders (2k votes, two requests of `n=k`).

Early stopping (`EarlyStop`): with ``"off"`` all k votes go out at once. With ``"decided"``
votes go out in waves, each the fewest votes that could settle the match, and voting stops as
soon as the remaining votes cannot change the majority. ``"confident"`` also stops once the
leader's lead is significant: the posterior probability (uniform prior on the judge's
preference) that the judge prefers the leader reaches `confidence`. Waves save calls and cost
latency (one judge latency per wave).

Decision: the candidate with strictly more valid votes wins ("majority"). A tie, or a match
where every vote abstained ("no_valid_vote"), is decided by the match's seeded coin and flagged
as ``"tie_break"`` / ``"no_valid_vote"`` in the trace.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

from rrm_select.errors import InvalidArgumentError
from rrm_select.types import Decision, Vote

OrderPolicy = Literal["random", "per_match", "alternate", "both"]
ORDER_POLICIES: tuple[str, ...] = get_args(OrderPolicy)
EarlyStop = Literal["off", "decided", "confident"]
EARLY_STOPS: tuple[str, ...] = get_args(EarlyStop)


def check_order_policy(order: str) -> OrderPolicy:
    if order not in ORDER_POLICIES:
        raise InvalidArgumentError(f"unknown order policy {order!r}; expected one of {list(ORDER_POLICIES)}")
    return order  # type: ignore[return-value]


def check_early_stop(early_stop: str, confidence: float) -> EarlyStop:
    if early_stop not in EARLY_STOPS:
        raise InvalidArgumentError(f"unknown early_stop {early_stop!r}; expected one of {list(EARLY_STOPS)}")
    if not 0.5 < confidence < 1:
        raise InvalidArgumentError(f"confidence must be in (0.5, 1), got {confidence!r}")
    return early_stop  # type: ignore[return-value]


def vote_orders(policy: OrderPolicy, votes: int, rng: np.random.Generator) -> list[tuple[bool, ...]]:
    """For each of the `votes` vote slots, the orders it is taken in (True: b is shown first)."""
    if policy == "random":
        return [(bool(swapped),) for swapped in rng.random(votes) < 0.5]
    if policy == "per_match":
        return [(bool(rng.random() < 0.5),)] * votes
    if policy == "alternate":
        first_swapped = bool(rng.random() < 0.5)
        return [(first_swapped != bool(i % 2),) for i in range(votes)]
    return [(False, True)] * votes


def count_orders(slots: Sequence[tuple[bool, ...]]) -> dict[bool, int]:
    """How many votes of `slots` see each order: {swapped: count}, one request per entry."""
    return dict(sorted(Counter(order for slot in slots for order in slot).items()))


def next_wave(
    lead: int, trail: int, cast: int, votes: int, per_slot: int, early_stop: EarlyStop, confidence: float
) -> int:
    """How many more vote slots to cast, given the valid votes so far (`lead` >= `trail`) after
    `cast` of `votes` slots, each slot yielding `per_slot` votes; 0 means the match is over."""
    left = votes - cast
    if early_stop == "off" or left == 0:
        return left
    if lead > trail + left * per_slot:  # out of reach even if every vote left goes to the trailer
        return 0
    # The fewest slots after which the leader could be out of reach (if they all go its way).
    to_decide = (trail + left * per_slot - lead) // (2 * per_slot) + 1
    if early_stop == "confident":
        if lead > trail and _confidence(lead, trail) >= confidence:
            return 0
        to_confident = next(x for x in itertools.count(1) if _confidence(lead + x * per_slot, trail) >= confidence)
        return min(left, to_decide, to_confident)
    return min(left, to_decide)


def _confidence(lead: int, trail: int) -> float:
    """P(the judge prefers the leader | lead and trail votes), uniform prior on its preference.

    That is P(p > 1/2) for p ~ Beta(lead + 1, trail + 1), which for whole numbers equals
    P(Binomial(lead + trail + 1, 1/2) <= lead)."""
    n = lead + trail + 1
    return sum(math.comb(n, i) for i in range(lead + 1)) / 2**n


def decide(votes: Sequence[Vote], a: int, b: int, coin: bool) -> tuple[int, Decision]:
    """The match winner between candidates `a` and `b`, and how it was decided.

    `coin` is the match's seeded tie-break draw: True gives a tie to `a`.
    """
    tally = Counter(v.winner for v in votes)
    if tally[a] != tally[b]:
        return (a if tally[a] > tally[b] else b), "majority"
    return (a if coin else b), ("tie_break" if tally[a] else "no_valid_vote")


def order_disagreements(votes: Sequence[Vote]) -> tuple[int, int]:
    """Position-bias evidence in one match: (pairs, flips) over every pair of valid votes that
    saw opposite orders; a flip is a pair whose votes preferred different candidates."""
    by_order: dict[int, Counter[int]] = {}
    for vote in votes:
        if vote.winner is not None:
            by_order.setdefault(vote.first, Counter())[vote.winner] += 1
    if len(by_order) < 2:
        return 0, 0
    one, other = by_order.values()
    pairs = one.total() * other.total()
    agreeing = sum(count * other[winner] for winner, count in one.items())
    return pairs, pairs - agreeing
