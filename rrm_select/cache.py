"""A persistent cache of judgments (SQLite), so no vote is paid for twice.

A vote is keyed by everything that determines it: the judge's fingerprint (model and sampling
settings), the format version, the query, the ordered pair of texts, and the vote's index among
the votes asked of that ordered pair. A rerun, a switch from knockout to ELO (same pairs), or
more votes per match (the first k are reused) therefore cost only the new judgments.
Keys are SHA-256 digests, so the file holds no request settings in clear (no keys or headers).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

from rrm_select.types import Vote


class JudgmentCache:
    """Votes stored in an SQLite file; safe to share between threads and event loops.

    Args:
        path: the database file (created if missing); ``":memory:"`` for a throwaway cache.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        self._db.execute("CREATE TABLE IF NOT EXISTS votes (key TEXT PRIMARY KEY, vote TEXT NOT NULL)")

    @staticmethod
    def key(
        fingerprint: str, query: str, first: str, second: str, index: int, limits: list[object] | None = None
    ) -> str:
        """The key of one vote; `limits` are its thinking budget's (budget, forcing, max_tokens),
        absent without a budget so that the keys of votes without one are as before budgets."""
        parts: list[object] = [fingerprint, query, first, second, index]
        payload = json.dumps(parts if limits is None else [*parts, limits], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def get(self, keys: list[str]) -> dict[str, Vote]:
        """The cached votes among `keys`."""
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        with self._lock:
            rows = self._db.execute(f"SELECT key, vote FROM votes WHERE key IN ({marks})", keys).fetchall()
        return {key: Vote.model_validate_json(vote) for key, vote in rows}

    def put(self, items: dict[str, Vote]) -> None:
        """Store `items` atomically: after a crash, all of them are cached or none."""
        if not items:
            return
        rows = [(key, vote.model_dump_json()) for key, vote in items.items()]
        # One transaction: the votes of one request land together or not at all, so a run
        # killed mid-write resumes with the same request shapes (and token counts) as a clean one.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO votes (key, vote) VALUES (?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM votes").fetchone()[0])

    def clear(self) -> None:
        """Forget every cached judgment."""
        with self._lock:
            self._db.execute("DELETE FROM votes")

    def close(self) -> None:
        with self._lock:
            self._db.close()
