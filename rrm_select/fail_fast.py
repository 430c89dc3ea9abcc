"""Running sibling coroutines so that one failure stops them all.

`asyncio.gather` lets the others run on after one raises: a selection whose match failed would
keep calling the judge (and paying for it) after its caller got the error. `gather_fail_fast`
cancels the rest as soon as one fails, waits until they have stopped, and raises that first
error as it is (not wrapped in an ExceptionGroup), so callers catch the same errors as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def gather_fail_fast(*coros: Coroutine[Any, Any, T]) -> list[T]:
    """The results of `coros`, run concurrently, in order; on the first failure, cancel the
    others and raise that failure."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coro) for coro in coros]
    except BaseExceptionGroup as failed:
        first = failed.exceptions[0]
    else:
        return [task.result() for task in tasks]
    raise first  # outside the handler: its own cause chain stays, no group in its context
