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

Escalation (a selector's `thinking_budgets`): a match's first wave is early stop's first wave
even with ``"off"`` (the fewest votes that could settle it, at the shortest thinking budget);
once its votes are split or one abstained (`contested`), each further wave takes the next
budget. With ``"off"`` the rest of the votes go in one second wave.

What a match costs, the fewest and the most requests and votes over every way its orders and
votes can fall, is `match_cost` (the dry run's figures), worked out by the functions a match plays by.

Decision: the candidate with strictly more valid votes wins ("majority"). A tie, or a match
where every vote abstained ("no_valid_vote"), is decided by the match's seeded coin and flagged
as ``"tie_break"`` / ``"no_valid_vote"`` in the trace.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import Counter
from collections.abc import Sequence
from typing import Literal, NamedTuple, get_args

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


class MatchCost(NamedTuple):
    """The judge requests and votes of one match: the fewest and the most over every way its
    orders can be drawn and its votes can fall, abstentions included (before retries, resamples,
    cached votes and a budget's cuts). Equal bounds: every match costs exactly that."""

    fewest_requests: int
    most_requests: int
    fewest_votes: int
    most_votes: int


def match_cost(
    order: OrderPolicy,
    votes: int,
    early_stop: EarlyStop = "off",
    confidence: float = 0.95,
    escalating: bool = False,
) -> MatchCost:
    """What one match of `votes` votes costs under an order policy and early stop (the dry run's
    figures), worked out with the code a match plays by: `vote_orders`, `next_wave`, and
    `count_orders` for the requests of each wave. `escalating`: the match escalates thinking
    budgets (its waves are then as `next_wave` says with `escalating`)."""
    rng = np.random.default_rng(0)
    # Each wave costs one request per order among its slots. A deterministic policy's slots only
    # differ by a mirror, which no count sees; per-vote coins can come out all alike (per_match's
    # slots) or mixed in every wave (alternate's): the extremes of "random".
    extremes = ("per_match", "alternate") if order == "random" else (order,)
    costs = [
        _wave_costs(tuple(vote_orders(policy, votes, rng)), early_stop, confidence, escalating) for policy in extremes
    ]
    return MatchCost(
        min(c[0] for c in costs), max(c[1] for c in costs), min(c[2] for c in costs), max(c[3] for c in costs)
    )


def _wave_costs(
    slots: tuple[tuple[bool, ...], ...], early_stop: EarlyStop, confidence: float, escalating: bool
) -> tuple[int, int, int, int]:
    """(fewest, most) requests and (fewest, most) votes of a match over `slots`, over every way
    the votes of each wave can go: to either candidate, or nowhere (an abstention)."""
    per_slot = len(slots[0])

    @functools.cache
    def from_here(lead: int, trail: int, cast: int) -> tuple[int, int, int, int]:
        size = next_wave(lead, trail, cast, len(slots), per_slot, early_stop, confidence, escalating)
        if not size:
            return 0, 0, 0, 0
        requests, votes = len(count_orders(slots[cast : cast + size])), size * per_slot
        after = [
            from_here(*sorted((lead + x, trail + y), reverse=True), cast + size)
            for x in range(votes + 1)
            for y in range(votes + 1 - x)
        ]
        return (
            requests + min(a[0] for a in after),
            requests + max(a[1] for a in after),
            votes + min(a[2] for a in after),
            votes + max(a[3] for a in after),
        )

    return from_here(0, 0, 0)


def next_wave(
    lead: int,
    trail: int,
    cast: int,
    votes: int,
    per_slot: int,
    early_stop: EarlyStop,
    confidence: float,
    escalating: bool = False,
) -> int:
    """How many more vote slots to cast, given the valid votes so far (`lead` >= `trail`) after
    `cast` of `votes` slots, each slot yielding `per_slot` votes; 0 means the match is over.

    With `escalating` the first wave is ``"decided"``'s when `early_stop` is ``"off"``: a
    contested match then has votes left to cast at a longer thinking budget."""
    left = votes - cast
    if escalating and early_stop == "off" and not cast:
        early_stop = "decided"
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


def contested(votes: Sequence[Vote]) -> bool:
    """Whether a match's votes so far leave room for doubt, so that its further waves escalate:
    they are split between its two candidates, or one abstained."""
    winners = {v.winner for v in votes}
    return None in winners or len(winners) > 1


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
