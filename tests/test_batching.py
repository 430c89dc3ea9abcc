"""StepBatcher: what is ready in one scheduling step goes out as one batch."""

from __future__ import annotations

import asyncio
import threading

import pytest

from rrm_select.judges.batching import StepBatcher


def test_one_step_is_one_batch_and_results_go_back_in_order() -> None:
    batcher: StepBatcher[int, int] = StepBatcher(lambda items: [x * 10 for x in items])

    async def main() -> list[list[int]]:
        return await asyncio.gather(*(batcher.submit([i, i + 100]) for i in range(50)))

    results = asyncio.run(main())
    assert results == [[i * 10, (i + 100) * 10] for i in range(50)]
    assert batcher.batch_sizes == [100]


def test_work_unlocked_in_the_same_step_joins_the_batch() -> None:
    batcher: StepBatcher[str, str] = StepBatcher(lambda items: [s.upper() for s in items])

    async def nested(depth: int, tag: str) -> str:
        if depth:  # like a knockout subtree: a few awaits before the first submission
            a, b = await asyncio.gather(nested(depth - 1, tag + "L"), nested(depth - 1, tag + "R"))
            return a + b
        return (await batcher.submit([tag]))[0]

    assert asyncio.run(nested(4, "")).count("L") == 4 * 16 // 2
    assert batcher.batch_sizes == [16]


def test_later_submissions_form_the_next_batch() -> None:
    release = threading.Event()
    calls: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            release.wait(5)  # the engine is busy with the first batch
        return items

    batcher: StepBatcher[int, int] = StepBatcher(run)

    async def main() -> None:
        first = asyncio.gather(*(batcher.submit([i]) for i in range(3)))
        await asyncio.sleep(0.05)
        later = asyncio.gather(*(batcher.submit([i]) for i in range(3, 8)))
        await asyncio.sleep(0.05)
        release.set()
        assert await first == [[0], [1], [2]]
        assert await later == [[i] for i in range(3, 8)]

    asyncio.run(main())
    assert batcher.batch_sizes == [3, 5]


def test_a_failing_batch_fails_every_caller() -> None:
    def run(items: list[int]) -> list[int]:
        raise ValueError("engine refused")

    batcher: StepBatcher[int, int] = StepBatcher(run)

    async def main() -> list[object]:
        return await asyncio.gather(*(batcher.submit([i]) for i in range(3)), return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, ValueError) and "engine refused" in str(r) for r in results)


def test_wrong_output_count_is_an_error() -> None:
    batcher: StepBatcher[int, int] = StepBatcher(lambda items: items[:-1])
    with pytest.raises(RuntimeError, match="returned 1 outputs for 2 items"):
        asyncio.run(batcher.submit([1, 2]))


def test_an_item_that_fails_fails_only_its_caller() -> None:
    def run(items: list[int]) -> list[int | BaseException]:
        return [ValueError(f"bad {x}") if x == 3 else x for x in items]

    batcher: StepBatcher[int, int] = StepBatcher(run)

    async def main() -> list[object]:
        return await asyncio.gather(*(batcher.submit([i, i + 10]) for i in range(5)), return_exceptions=True)

    results = asyncio.run(main())
    assert results[:3] == [[0, 10], [1, 11], [2, 12]] and results[4] == [4, 14]
    assert isinstance(results[3], ValueError) and str(results[3]) == "bad 3"
    assert batcher.batch_sizes == [10]
