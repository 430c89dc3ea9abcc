"""Straggler control: when a judge call is much slower than its peers, send it again and take
whichever copy answers first.

RRM latency is heavy-tailed (a long chain of thought, a busy server), and a knockout round waits
for its slowest match. A `Hedge` on a judge watches how long its calls take; once a call has
run `factor` times the `quantile` of recent calls, it sends a duplicate, takes the first answer
and cancels the other. The duplicate is a real request, counted in `Usage.hedges` and charged to
the selection's budget.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Hedge(BaseModel):
    """When to duplicate a slow judge call (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quantile: float = Field(default=0.5, gt=0, lt=1)
    """Which quantile of recent call latencies is the reference (0.5: the median)."""
    factor: float = Field(default=3.0, ge=1)
    """A call is a straggler once it has run this many times the reference latency."""
    min_delay_s: float = Field(default=0.0, ge=0)
    """Never hedge sooner than this."""
    min_observations: int = Field(default=8, ge=1)
    """Calls to observe before hedging at all (no reference latency before that)."""
    window: int = Field(default=256, ge=1)
    """How many recent calls the reference latency is taken from."""


class Hedger:
    """Runs calls under a `Hedge` policy, learning the reference latency from its own calls."""

    def __init__(self, policy: Hedge) -> None:
        self.policy = policy
        self._latencies: deque[float] = deque(maxlen=policy.window)

    def delay(self) -> float | None:
        """How long a call may run before it is duplicated; None while too few were observed."""
        if len(self._latencies) < self.policy.min_observations:
            return None
        reference = float(np.quantile(self._latencies, self.policy.quantile))
        return max(self.policy.min_delay_s, self.policy.factor * reference)

    async def run(self, call: Callable[[], Awaitable[T]], may_hedge: Callable[[], bool]) -> tuple[T, bool]:
        """The first result of `call()` or of its duplicate, and whether a duplicate was sent.

        `may_hedge` is asked just before duplicating (the caller's budget may say no)."""
        started = time.monotonic()
        first = asyncio.ensure_future(call())
        delay = self.delay()
        copies = [first]
        try:
            if delay is not None:
                await asyncio.wait(copies, timeout=delay)
                if not first.done() and may_hedge():
                    copies.append(asyncio.ensure_future(call()))
            result = await _first_success(copies)
        finally:
            for copy in copies:
                copy.cancel()
        self._latencies.append(time.monotonic() - started)
        return result, len(copies) > 1


async def _first_success(copies: Sequence[asyncio.Future[T]]) -> T:
    """The first copy to succeed; if every copy fails, the first copy's error."""
    pending = set(copies)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for copy in done:
            if copy.exception() is None:
                return copy.result()
    return copies[0].result()
