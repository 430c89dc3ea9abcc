"""The calibration run: every labelled pair through the judge's public `Judge.ajudge`.

Each pair gets a generator derived from the seed and its id (`derive_seed`), so its orders do
not depend on its place in the file or on which request finished first, and a rerun asks the
same requests (served by the judge's cache, when it has one). `vote_orders` draws the orders of
the `votes` vote slots; votes that share an order share one `VoteRequest`. The reference vote is
the first vote of the first slot, whose order is a fair coin under every policy (with
``"both"`` a further coin picks one of its two orders). The both-orders figure pairs it with the
first vote in the other order; a pair whose slots drew no vote in that order gets one more
request for it (in the same call), which enters no other figure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any, get_args

import numpy as np

from rrm_select import (
    BadRow,
    InvalidArgumentError,
    Judge,
    JudgeRejectedError,
    OrderPolicy,
    VoteRequest,
    count_orders,
    derive_seed,
    gather_fail_fast,
    run_sync,
    vote_orders,
)
from rrm_select.calibration.pairs import CHOSEN, REJECTED, LabelledPair, PairFields, check_pair, pair_id
from rrm_select.calibration.report import CalibrationReport
from rrm_select.calibration.stats import JudgedPair, figures

OnReject = Callable[[str, str], None]
"""Told (pair id, reason) for each row left out; without one, a bad row raises."""


async def acalibrate(
    pairs: Iterable[Mapping[str, Any]],
    judge: Judge,
    *,
    votes: int = 1,
    order: OrderPolicy = "random",
    seed: int = 0,
    subset_field: str = "subset",
    prompt_field: str = "prompt",
    chosen_field: str = "chosen",
    rejected_field: str = "rejected",
    id_field: str = "id",
    pairs_in_flight: int = 64,
    on_reject: OnReject | None = None,
) -> CalibrationReport:
    """Measure `judge` on labelled `pairs` (rows in the RewardBench layout, see
    `rrm_select.calibration.pairs`): `votes` votes per pair in the orders `order` draws.

    Rows that are not valid pairs, and pairs the judge refuses (too long), go to `on_reject`
    when it is given; otherwise they raise `InvalidArgumentError` (a refusal, the judge's
    `JudgeRejectedError`). No valid pair at all raises `InvalidArgumentError`. A judge error on
    one pair cancels the requests of the others (awaiting them) and is raised as it is.

    Besides the votes, a pair whose order policy gave it no vote in the other order of its
    reference vote gets one vote in that order, for the both-orders figure only (one request
    more per such pair: every pair with ``votes=1`` or ``order="per_match"``, none with ``"both"``
    or ``"alternate"`` and ``votes >= 2``)."""
    if isinstance(votes, bool) or not isinstance(votes, int) or votes < 1:
        raise InvalidArgumentError(f"votes must be a positive integer, got {votes!r}")
    if order not in get_args(OrderPolicy):
        raise InvalidArgumentError(f"unknown order policy {order!r}; expected one of {list(get_args(OrderPolicy))}")
    if pairs_in_flight < 1:
        raise InvalidArgumentError(f"pairs_in_flight must be >= 1, got {pairs_in_flight!r}")
    fields = PairFields(prompt_field, chosen_field, rejected_field, subset_field, id_field)
    rejected = 0

    def reject(rid: str, reason: str) -> None:
        nonlocal rejected
        if on_reject is None:
            raise InvalidArgumentError(f"pair {rid}: {reason}")
        rejected += 1
        on_reject(rid, reason)

    checked = []
    for position, raw in enumerate(pairs):
        row = dict(raw)
        try:
            checked.append(check_pair(row, position, fields))
        except BadRow as bad:
            reject(pair_id(row, position, fields), str(bad))
    if not checked:
        raise InvalidArgumentError("no valid pair to calibrate on (each row needs prompt, chosen and rejected)")
    gate = asyncio.Semaphore(pairs_in_flight)

    async def judged(pair: LabelledPair) -> JudgedPair | None:
        async with gate:
            try:
                return await judge_pair(judge, pair, votes, order, seed)
            except JudgeRejectedError as refused:
                if on_reject is None:
                    raise
                reject(pair.id, f"judge refused: {refused}")
                return None

    done = [p for p in await gather_fail_fast(*(judged(p) for p in checked)) if p is not None]
    if not done:
        raise InvalidArgumentError("no pair could be judged (the judge refused every one)")
    subsets = sorted({p.subset for p in done if p.subset is not None})
    return CalibrationReport(
        judge=judge.name,
        votes=votes,
        order=order,
        seed=seed,
        resamples=judge.retry.resamples,
        thinking_budget=judge.thinking_budget,
        rejected=rejected,
        overall=figures(done),
        subsets={name: figures([p for p in done if p.subset == name]) for name in subsets},
    )


def calibrate(pairs: Iterable[Mapping[str, Any]], judge: Judge, **options: Any) -> CalibrationReport:
    """`acalibrate`, from synchronous code (also inside a running event loop)."""
    return run_sync(acalibrate(pairs, judge, **options))


async def judge_pair(judge: Judge, pair: LabelledPair, votes: int, order: OrderPolicy, seed: int) -> JudgedPair:
    """The votes on one pair: one request per order its vote slots drew, and one for a vote in
    the other order of the reference vote when they drew none."""
    rng = np.random.default_rng(derive_seed(seed, pair.id))
    slots = vote_orders(order, votes, rng)
    reference_swapped = slots[0][0] if len(slots[0]) == 1 else bool(rng.random() < 0.5)
    texts = {CHOSEN: pair.chosen, REJECTED: pair.rejected}
    counts = count_orders(slots)
    groups = list(counts.items())
    other = not reference_swapped
    if other not in counts:  # the both-orders vote: asked beside the others
        groups.append((other, 1))
    requests = []
    for swapped, count in groups:
        shown = (REJECTED, CHOSEN) if swapped else (CHOSEN, REJECTED)
        requests.append(VoteRequest(pair.query, texts[shown[0]], texts[shown[1]], count, shown))
    ballots = await judge.ajudge(requests)
    by_order = {swapped: ballot.votes for (swapped, _), ballot in zip(groups, ballots, strict=True)}
    every = tuple(v for ballot in ballots[: len(counts)] for v in ballot.votes)
    return JudgedPair(pair.subset, every, by_order[reference_swapped][0], by_order[other][0])
