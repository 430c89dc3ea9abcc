"""A one-line live progress display for long jobs (on a terminal only) and a final summary."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rrm_select.filter.job import FilterStats


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def describe(stats: FilterStats) -> str:
    elapsed = max(time.monotonic() - stats.started, 1e-9)
    rate = (stats.written + stats.rejected) / elapsed
    total = f"/{stats.total}" if stats.total is not None else ""
    eta = ""
    if stats.total is not None and rate > 0:
        eta = f" | ETA {_duration((stats.total - stats.done) / rate)}"
    u = stats.usage
    flips = f", order flips {u.flip_rate:.1%} of {u.order_pairs}" if u.flip_rate is not None else ""
    return (
        f"rows {stats.done}{total} ({stats.skipped} skipped, {stats.rejected} rejected) {rate:.1f} rows/s"
        f" | judge requests {u.requests}, tokens {u.prompt_tokens + u.completion_tokens},"
        f" failures {stats.failures}{flips}{eta}"
    )


class ProgressLine:
    """Redraws one status line at most `per_second` times a second; silent when not a terminal."""

    def __init__(self, stream: TextIO | None = None, per_second: float = 5.0) -> None:
        self.stream = stream if stream is not None else sys.stderr  # looked up now: it may be replaced
        self.enabled = self.stream.isatty()
        self._interval = 1.0 / per_second
        self._last = 0.0

    def __call__(self, stats: FilterStats) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < self._interval:
            return
        self._last = now
        self.stream.write("\r\x1b[2K" + describe(stats))
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
