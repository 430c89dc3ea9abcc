"""The event loop behind rrm_select's sync API: one per process, on a daemon thread.

`Selector.select` and the sync wrappers run their coroutines here, so they work the same with or
without an event loop already running in the caller's thread (Jupyter, FastAPI). One loop for
every selector, because litellm binds its HTTP clients and its logging worker to the loop that
first used them: a loop per selector left a pending litellm task behind each discarded selector
("Task was destroyed but it is pending!") and opened fresh connections for each.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
from collections.abc import Coroutine
from contextvars import Context
from typing import Any, TypeVar

T = TypeVar("T")

THREAD_NAME = "rrm-select-loop"
_EXIT_GRACE_S = 5.0


class _SyncLoop:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        atexit.register(self._shutdown)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._running_loop()
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                "a sync rrm_select call (select, completion, rerank) was made from a coroutine running on "
                "rrm_select's own event loop, where it would wait on itself forever; await the async form instead"
            )
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C in the caller must not leave judge requests running
            raise

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            # A forked child (multiprocessing, Ray workers) inherits the loop object but not its thread.
            if self._loop is None or self._pid != os.getpid():
                self._loop = asyncio.new_event_loop()
                self._loop.set_task_factory(self._keep_until_done)
                self._thread = threading.Thread(target=self._loop.run_forever, name=THREAD_NAME, daemon=True)
                self._pid = os.getpid()
                self._thread.start()
            return self._loop

    def _keep_until_done(
        self, loop: asyncio.AbstractEventLoop, coro: Any, context: Context | None = None
    ) -> asyncio.Task[Any]:
        """A task that lives until it ends. litellm moves its logging worker to whichever loop
        calls it last and drops the old worker unfinished; without a reference here, collecting
        it would print "Task was destroyed but it is pending!". The exit hook cancels it."""
        task = asyncio.Task(coro, loop=loop, context=context)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _shutdown(self) -> None:
        """At exit, cancel what still runs on the loop (litellm's logging worker), stop it and
        close it once its thread has returned (an unclosed loop collected at exit warns)."""
        loop = self._loop
        if loop is None or self._pid != os.getpid() or not loop.is_running():
            return
        try:
            asyncio.run_coroutine_threadsafe(_cancel_other_tasks(), loop).result(timeout=_EXIT_GRACE_S)
        except concurrent.futures.TimeoutError:
            pass  # a task that ignores cancellation must not hold up the interpreter's exit
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=_EXIT_GRACE_S)
        if not loop.is_running():
            loop.close()


async def _cancel_other_tasks() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


_shared = _SyncLoop()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion on rrm_select's shared loop and return its result (or raise)."""
    return _shared.run(coro)
