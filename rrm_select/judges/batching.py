"""Coalesce the judge calls of one scheduling step into one batch.

Selectors await one match at a time, concurrently. For an engine that batches (in-process
vLLM), every match that is ready at the same moment, across every selection in flight, should
go into ONE generate call. `StepBatcher` collects submissions until the event loop has run every
ready task once more without a new submission (so matches unlocked by the same result join the
same batch), then runs the batch; submissions arriving meanwhile form the next batch.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

_SETTLE_LIMIT = 64  # loop turns to wait for stragglers before sending what is there


class StepBatcher(Generic[In, Out]):
    """Runs `run(items) -> outputs` (blocking, one item in, one out) on batches of submissions.

    An output may be an exception instead: the caller whose items include it gets it raised,
    the other callers in the batch are unaffected.

    `run` executes in a worker thread, one batch at a time across every event loop, so the
    loops stay responsive and a non-thread-safe engine is never entered twice.
    """

    def __init__(self, run: Callable[[list[In]], Sequence[Out | BaseException]]) -> None:
        self._run = run
        self._engine_lock = threading.Lock()
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopQueue[In, Out]] = (
            weakref.WeakKeyDictionary()
        )
        self.batch_sizes: list[int] = []
        """Items per batch sent so far (for benchmarks and tests)."""

    async def submit(self, items: Sequence[In]) -> list[Out]:
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _LoopQueue(self)
        return await queue.submit(list(items))

    def run_batch(self, items: list[In]) -> Sequence[Out | BaseException]:
        with self._engine_lock:
            self.batch_sizes.append(len(items))
            outputs = self._run(items)
        if len(outputs) != len(items):
            raise RuntimeError(f"batch runner returned {len(outputs)} outputs for {len(items)} items")
        return outputs


class _LoopQueue(Generic[In, Out]):
    def __init__(self, batcher: StepBatcher[In, Out]) -> None:
        self._batcher = batcher
        self._pending: list[tuple[list[In], asyncio.Future[list[Out]]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, items: list[In]) -> list[Out]:
        future: asyncio.Future[list[Out]] = asyncio.get_running_loop().create_future()
        self._pending.append((items, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            await self._settle()
            batch, self._pending = self._pending, []
            batch = [(items, future) for items, future in batch if not future.cancelled()]
            flat = [item for items, _ in batch for item in items]
            try:
                outputs = await asyncio.to_thread(self._batcher.run_batch, flat) if flat else []
            except BaseException as exc:  # every caller in the batch sees the failure
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            start = 0
            for items, future in batch:
                mine = outputs[start : start + len(items)]
                start += len(items)
                failures = [out for out in mine if isinstance(out, BaseException)]
                if future.done():
                    continue
                if failures:
                    future.set_exception(failures[0])
                else:
                    future.set_result(list(mine))  # type: ignore[arg-type]  # no exceptions left

    async def _settle(self) -> None:
        for _ in range(_SETTLE_LIMIT):
            seen = len(self._pending)
            await asyncio.sleep(0)
            if len(self._pending) == seen:
                return
