"""Majority voting for one match: which order each vote sees, and how the votes decide.

Order policies (`OrderPolicy`), for a match of `k` votes between candidates a and b:

- ``"random"``: a fair coin per vote decides which candidate is shown first, as in the RRM
  paper. Votes that drew the same order share one request (`n` = their count), so a match costs
  one request when all coins agree and two otherwise.
- ``"per_match"``: one coin for the whole match; all k votes in one request with `n=k`.
  Cheapest, but every vote shares the same position bias.
- ``"alternate"``: a coin for the first vote, then orders alternate, so position bias cancels
  as far as k allows (two requests of ceil(k/2) and floor(k/2) votes).
- ``"both"``: every vote is taken in both orders (2k votes, two requests of `n=k`).

Decision: the candidate with strictly more valid votes wins ("majority"). A tie, or a match
where every vote abstained ("no_valid_vote"), is decided by the match's seeded coin and flagged
as ``"tie_break"`` / ``"no_valid_vote"`` in the trace.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

from rrm_select.errors import InvalidArgumentError
from rrm_select.types import Decision, Vote

OrderPolicy = Literal["random", "per_match", "alternate", "both"]
ORDER_POLICIES: tuple[str, ...] = get_args(OrderPolicy)


def check_order_policy(order: str) -> OrderPolicy:
    if order not in ORDER_POLICIES:
        raise InvalidArgumentError(f"unknown order policy {order!r}; expected one of {list(ORDER_POLICIES)}")
    return order  # type: ignore[return-value]


def plan_orders(policy: OrderPolicy, votes: int, rng: np.random.Generator) -> dict[bool, int]:
    """How many votes see each order: {swapped: count}, where swapped means b is shown first."""
    if policy == "random":
        swapped = int((rng.random(votes) < 0.5).sum())
        plan = {False: votes - swapped, True: swapped}
    elif policy == "per_match":
        plan = {bool(rng.random() < 0.5): votes}
    elif policy == "alternate":
        first_swapped = bool(rng.random() < 0.5)
        plan = {first_swapped: (votes + 1) // 2, not first_swapped: votes // 2}
    else:
        plan = {False: votes, True: votes}
    return {swapped: count for swapped, count in sorted(plan.items()) if count}


def decide(votes: Sequence[Vote], a: int, b: int, coin: bool) -> tuple[int, Decision]:
    """The match winner between candidates `a` and `b`, and how it was decided.

    `coin` is the match's seeded tie-break draw: True gives a tie to `a`.
    """
    tally = Counter(v.winner for v in votes)
    if tally[a] != tally[b]:
        return (a if tally[a] > tally[b] else b), "majority"
    return (a if coin else b), ("tie_break" if tally[a] else "no_valid_vote")
