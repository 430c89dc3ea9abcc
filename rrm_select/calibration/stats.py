"""From the votes on each pair to `Figures`: pure functions over numbers and `Vote`s."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from rrm_select import Vote, order_disagreements
from rrm_select.calibration.pairs import CHOSEN
from rrm_select.calibration.report import Figures, Interval, Spread

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class JudgedPair:
    """The votes on one pair, which of them is its reference vote, and the first vote in the
    other order (one of `votes`, or a vote asked for beside them: it is in no other figure)."""

    subset: str | None
    votes: tuple[Vote, ...]
    reference: Vote
    other_order: Vote


def wilson(share: float, n: int, z: float = Z_95) -> Interval:
    """`share` of `n` with its Wilson score interval (a fractional share, as 0.5-scored
    abstentions give, is taken as is)."""
    if n == 0:
        return Interval(estimate=0.5, low=0.0, high=1.0)
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(estimate=share, low=max(0.0, centre - half), high=min(1.0, centre + half))


def vote_score(vote: Vote, first_sample: bool = False) -> float:
    """1 for a vote for the chosen answer, 0 for the rejected one, 0.5 for an abstention. With
    `first_sample`, a vote whose first sample had no verdict (it was resampled) abstained."""
    if vote.verdict is None or (first_sample and vote.discarded):
        return 0.5
    return 1.0 if vote.winner == CHOSEN else 0.0


def agree(one: Vote, other: Vote) -> bool:
    """Whether two votes' first samples both have a verdict and prefer the same answer."""
    valid = vote_score(one, first_sample=True) != 0.5 and vote_score(other, first_sample=True) != 0.5
    return valid and one.winner == other.winner


def majority_score(votes: Sequence[Vote]) -> float:
    """1 if more valid votes chose the chosen answer than the rejected one, 0 if fewer, else 0.5."""
    for_chosen = sum(v.winner == CHOSEN for v in votes)
    against = sum(v.winner is not None and v.winner != CHOSEN for v in votes)
    return 1.0 if for_chosen > against else 0.0 if for_chosen < against else 0.5


def spread(values: Sequence[float | None]) -> Spread:
    """Median, 90th percentile and mean of the known `values`."""
    known = np.array([v for v in values if v is not None], dtype=float)
    if not known.size:
        return Spread()
    return Spread(median=float(np.median(known)), p90=float(np.percentile(known, 90)), mean=float(known.mean()))


def figures(pairs: Sequence[JudgedPair]) -> Figures:
    """The figures of a group of judged pairs."""
    votes = [v for p in pairs for v in p.votes]
    valid = [v for v in votes if v.verdict is not None]
    flips = [order_disagreements(p.votes) for p in pairs]
    order_pairs = sum(n for n, _ in flips)
    n, count = len(pairs), max(len(votes), 1)
    return Figures(
        pairs=n,
        votes=len(votes),
        reference=wilson(_mean(vote_score(p.reference, first_sample=True) for p in pairs), n),
        single_vote=wilson(_mean(vote_score(v) for v in votes), n),
        majority=wilson(_mean(majority_score(p.votes) for p in pairs), n),
        both_orders=wilson(_mean(_both_orders(p) for p in pairs), n),
        order_agreement=sum(agree(p.reference, p.other_order) for p in pairs) / n if n else None,
        position_bias=sum(v.verdict == 1 for v in valid) / len(valid) if valid else None,
        flip_rate=sum(f for _, f in flips) / order_pairs if order_pairs else None,
        order_pairs=order_pairs,
        abstention_rate=(len(votes) - len(valid)) / count,
        first_sample_abstention_rate=sum(v.verdict is None or bool(v.discarded) for v in votes) / count,
        forced_rate=sum(v.forced for v in votes) / count,
        cached_votes=sum(v.cached for v in votes),
        prompt_tokens=spread([v.prompt_tokens for v in votes]),
        completion_tokens=spread([v.completion_tokens for v in votes]),
        latency_s=spread([v.latency_s for v in votes]),
    )


def _both_orders(pair: JudgedPair) -> float:
    return (vote_score(pair.reference, first_sample=True) + vote_score(pair.other_order, first_sample=True)) / 2


def _mean(scores: Iterable[float]) -> float:
    values = list(scores)
    return sum(values) / len(values) if values else 0.5
