"""The judge's concurrency limit, shared across event loops and threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from rrm_select.judges.limit import ConcurrencyLimit


def test_limit_holds_across_loops_in_threads() -> None:
    limit = ConcurrencyLimit(3)
    peak = 0
    active = 0
    lock = threading.Lock()

    async def worker() -> None:
        nonlocal peak, active
        async with limit:
            with lock:
                active += 1
                peak = max(peak, active)
            await asyncio.sleep(0.01)
            with lock:
                active -= 1

    async def many() -> None:
        await asyncio.gather(*(worker() for _ in range(20)))

    threads = [threading.Thread(target=asyncio.run, args=(many(),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 3 and limit.active == 0


def test_first_come_first_served() -> None:
    limit = ConcurrencyLimit(1)
    order: list[int] = []

    async def worker(i: int) -> None:
        async with limit:
            order.append(i)
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(worker(i) for i in range(10)))

    asyncio.run(main())
    assert order == list(range(10))


def test_cancelled_waiters_give_their_turn_back() -> None:
    async def main() -> None:
        limit = ConcurrencyLimit(1)
        release = asyncio.Event()

        async def holder() -> None:
            async with limit:
                await release.wait()

        async def waiter() -> str:
            async with limit:
                return "got it"

        first = asyncio.create_task(holder())
        await asyncio.sleep(0)
        cancelled = asyncio.create_task(waiter())
        patient = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        cancelled.cancel()
        release.set()
        await first
        assert await patient == "got it"
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert limit.active == 0

    asyncio.run(main())
