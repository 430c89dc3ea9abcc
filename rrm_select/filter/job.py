"""The offline filtering job: many rows through one selector, resumable, in input order.

Rows stream in; up to `window` selections run at once (they share the judge's concurrency and,
in-process, its batches); results are written strictly in input order, so the output on disk
is always a prefix of the final file. A rerun skips every row id already written (or rejected)
and appends the rest, which yields the file an uninterrupted run would have written.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rrm_select import (
    BadRow,
    BudgetExhaustedError,
    JudgeRejectedError,
    RejectCode,
    Selection,
    Selector,
    Usage,
    derive_seed,
)
from rrm_select.filter.dataset import Emit, Fields, JsonlSink, Row, check_row, emit, row_id
from rrm_select.filter.row_stats import RowStats


@dataclass
class FilterStats:
    """Counters for progress and the final summary."""

    total: int | None = None
    written: int = 0
    rejected: int = 0
    skipped: int = 0
    usage: Usage = field(default_factory=Usage)
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.written + self.rejected + self.skipped

    @property
    def failures(self) -> int:
        """Retried requests and abstained votes so far."""
        return self.usage.retries + self.usage.abstentions


@dataclass
class FilterJob:
    """Filter `rows` with `selector` into `output`; bad rows go to `rejects` with a reason and
    its code; each judged row's `RowStats` to `row_stats`, where given."""

    selector: Selector
    output: JsonlSink
    rejects: JsonlSink
    fields: Fields = field(default_factory=Fields)
    mode: Emit = "best"
    margin: float | None = None
    seed: int = 0
    window: int = 64
    on_progress: Callable[[FilterStats], None] | None = None
    stats: FilterStats = field(default_factory=FilterStats)
    row_stats: JsonlSink | None = None

    async def run(self, rows: Iterable[dict[str, Any]]) -> FilterStats:
        queue: deque[tuple[Row | None, str, asyncio.Task[Selection] | BadRow]] = deque()
        try:
            for position, rid, raw in rows_to_do(rows, self.fields, self.output, self.rejects, self.stats):
                try:
                    row = check_row(raw, position, self.fields)
                except BadRow as bad:
                    queue.append((None, rid, bad))
                else:
                    selection = self.selector.aselect(row.query, row.candidates, seed=derive_seed(self.seed, row.id))
                    queue.append((row, rid, asyncio.ensure_future(selection)))
                while queue and (len(queue) >= self.window or _ready(queue[0][2])):
                    await self._write_head(queue)
            while queue:
                await self._write_head(queue)
        finally:
            started = [item for _, _, item in queue if isinstance(item, asyncio.Task)]
            for task in started:
                task.cancel()
            # Rows judged beside the one that ended the run end with it (a resume redoes them);
            # their own errors are collected here rather than printed by the event loop.
            await asyncio.gather(*started, return_exceptions=True)
            self.output.close()
            self.rejects.close()
            if self.row_stats is not None:
                self.row_stats.close()
        return self.stats

    async def _write_head(self, queue: deque[tuple[Row | None, str, asyncio.Task[Selection] | BadRow]]) -> None:
        row, row_id, item = queue[0]
        if isinstance(item, BadRow):
            self._reject(row_id, str(item), item.code)
        else:
            try:
                result = await item
            except JudgeRejectedError as refused:  # this row only (e.g. too long for the judge)
                self._reject(row_id, f"judge refused: {refused}", "judge_refused")
            except BudgetExhaustedError as unpaid:  # this row only: its matches cost more than the budget
                self._reject(row_id, str(unpaid), "over_budget")
            else:
                assert row is not None
                self.output.write(emit(row, result, self.mode, self.margin))
                if self.row_stats is not None:  # after the output: see `rrm_select.filter.row_stats`
                    self.row_stats.write([RowStats.of(row.id, result).model_dump(mode="json")])
                self.stats.written += 1
                self.stats.usage = self.stats.usage + result.usage
        queue.popleft()
        if self.on_progress is not None:
            self.on_progress(self.stats)

    def _reject(self, row_id: str, reason: str, code: RejectCode) -> None:
        self.rejects.write([{"id": row_id, "reason": reason, "code": code}])
        self.stats.rejected += 1


def rows_to_do(
    rows: Iterable[dict[str, Any]], fields: Fields, output: JsonlSink, rejects: JsonlSink, stats: FilterStats
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(position, id, row) for each of `rows` not yet in `output` or `rejects`; skipped rows are
    counted in `stats`. This is what makes a rerun a resume."""
    done = output.done | rejects.done
    for position, raw in enumerate(rows):
        rid = row_id(raw, position, fields)
        if rid in done:
            stats.skipped += 1
            continue
        yield position, rid, raw


def _ready(item: asyncio.Task[Selection] | BadRow) -> bool:
    return isinstance(item, BadRow) or item.done()
