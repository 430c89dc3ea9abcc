"""Datasets in and out: streaming rows, normalising them, and crash-safe ordered output.

Input rows hold a query (a prompt string or chat messages) and a list of candidates (strings,
or message dicts with a ``content`` string). Rows are read lazily (JSONL line by line, Parquet
batch by batch, a saved Hugging Face dataset row by row), so memory stays flat however long the
file is. Output is JSONL written in input order, one flushed line per row, so a file cut short
by a crash is always a prefix of the full output, minus at most a torn last line, which
`JsonlSink` trims before appending.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rrm_select import (
    BadRow,
    InvalidArgumentError,
    MissingDependencyError,
    Selection,
    candidate_text,
    query_text,
    unicode_error,
)

Emit = Literal["best", "pairs", "ranking"]
EMITS: tuple[Emit, ...] = ("best", "pairs", "ranking")


@dataclass(frozen=True)
class Fields:
    """Which fields of an input row hold what."""

    query: str = "prompt"
    candidates: str = "responses"
    id: str = "id"
    """Row id field; rows without it are numbered by position (0-based)."""


@dataclass(frozen=True)
class Row:
    """One input row, checked: `query` is the text the judge sees."""

    id: str
    query_value: Any
    query: str
    candidates: list[str]


def read_rows(path: str | Path) -> Iterator[dict[str, Any]]:
    """Raw rows of a JSONL or Parquet file, or of a folder saved by `datasets.save_to_disk`."""
    path = Path(path)
    if not path.exists():
        raise InvalidArgumentError(f"input {path} does not exist")
    if path.is_dir():
        return _read_hf_dataset(path)
    if path.suffix == ".parquet":
        return _read_parquet(path)
    return _read_jsonl(path)


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidArgumentError(f"{path}:{number} is not valid JSON: {exc.msg}") from exc
            yield row if isinstance(row, dict) else {"_not_an_object": row}


def _read_parquet(path: Path) -> Iterator[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependencyError("reading Parquet needs pyarrow: pip install 'rrm-select[parquet]'") from exc
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        yield from batch.to_pylist()


def _read_hf_dataset(path: Path) -> Iterator[dict[str, Any]]:
    try:
        import datasets
    except ImportError as exc:
        raise MissingDependencyError(
            f"{path} is a folder: reading a saved dataset needs `pip install datasets`"
        ) from exc
    yield from datasets.load_from_disk(str(path))


def count_rows(path: str | Path) -> int | None:
    """The number of rows, cheaply where possible (for progress and ETA); None if unknown."""
    path = Path(path)
    if path.is_file() and path.suffix != ".parquet":
        with path.open("rb") as data:
            return sum(1 for line in data if line.strip())
    return None


def row_id(raw: dict[str, Any], position: int, fields: Fields) -> str:
    """A row's id: its id field, else its position in the input."""
    return str(raw.get(fields.id, position))


def check_row(raw: dict[str, Any], position: int, fields: Fields) -> Row:
    """Normalise one raw row, or raise `BadRow` saying what is wrong with it."""
    if "_not_an_object" in raw:
        raise BadRow("row is not a JSON object", "not_an_object")
    if fields.query not in raw:
        raise BadRow(f"missing query field {fields.query!r}", "missing_query")
    if fields.candidates not in raw:
        raise BadRow(f"missing candidates field {fields.candidates!r}", "missing_candidates")
    query = query_text(raw[fields.query])
    candidates = raw[fields.candidates]
    if not isinstance(candidates, list) or not candidates:
        raise BadRow(f"field {fields.candidates!r} must be a non-empty list of candidates", "no_candidates")
    texts = [candidate_text(c, i) for i, c in enumerate(candidates)]
    for what, text in [("query", query), *((f"candidate {i}", t) for i, t in enumerate(texts))]:
        if unicode_error(text) is not None:
            raise BadRow(f"{what} is not valid Unicode (it holds a lone surrogate)", "invalid_unicode")
    return Row(row_id(raw, position, fields), raw[fields.query], query, texts)


def emit(row: Row, result: Selection, mode: Emit, margin: float | None = None) -> list[dict[str, Any]]:
    """Output records for one row.

    The ranking's trace is `Selection.trace`: without per-run accounting (latencies, usage,
    costs, retries and hedges, whether a vote came from the cache), so a resumed or repeated run
    writes the same bytes as an uninterrupted one."""
    if mode == "best":
        cut_short = {"stopped_early": result.stopped_early} if result.stopped_early else {}
        return [
            {
                "id": row.id,
                "query": row.query_value,
                "chosen": result.best,
                "chosen_index": result.best_index,
                **cut_short,
            }
        ]
    if mode == "pairs":
        return [{"id": row.id, "query": row.query_value, **pair} for pair in preference_pairs(result, margin)]
    return [{"id": row.id, "query": row.query_value, "candidates": row.candidates, **result.trace()}]


def preference_pairs(result: Selection, margin: float | None) -> list[dict[str, Any]]:
    """Chosen/rejected pairs: best versus worst, or (with `margin`) every pair whose score gap
    is at least `margin`. Identical texts never form a pair."""
    ranking = result.ranking
    if margin is None:
        pairs = [(ranking[0], ranking[-1])]
    else:
        pairs = [
            (a, b)
            for i, a in enumerate(ranking)
            for b in ranking[i + 1 :]
            if result.scores[a] - result.scores[b] >= margin
        ]
    c = result.candidates
    return [
        {
            "chosen": c[a],
            "rejected": c[b],
            "chosen_index": a,
            "rejected_index": b,
            "margin": result.scores[a] - result.scores[b],
        }
        for a, b in pairs
        if c[a] != c[b]
    ]


class JsonlSink:
    """Append-only JSONL output, written in input order, that survives crashes.

    A row's records go out in one flushed `write`. On opening an existing file, the records of
    its last row are cut off (a crash may have torn them) and every earlier row id is marked
    done; the last row is simply judged again (from the cache, when there is one). The file is
    fsynced every `sync_every` rows and on close.
    """

    def __init__(self, path: str | Path, sync_every: int = 100) -> None:
        self.path = Path(path)
        self.existed = self.path.exists()
        """Whether the file was there before (a resumed run)."""
        self.cut: str | None = None
        """The id of the row whose records opening cut off, to be judged again."""
        self.done: set[str] = self._resume() if self.existed else set()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        self._sync_every = sync_every
        self._unsynced = 0

    def _resume(self) -> set[str]:
        """Make the existing file ready to append to; the row ids it holds done."""
        done, self.cut = _cut_last_row(self.path)
        return done

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        if not records:
            return
        self._file.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        self._file.flush()
        self._unsynced += 1
        if self._unsynced >= self._sync_every:
            os.fsync(self._file.fileno())
            self._unsynced = 0

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def _cut_last_row(path: Path) -> tuple[set[str], str | None]:
    """Truncate `path` before the records of its last row id; return the ids before it, and the
    one cut (None for a file without a whole record)."""
    done: set[str] = set()
    last_id: str | None = None
    last_start = 0
    offset = 0
    with path.open("rb") as data:
        for line in data:
            try:
                row_id = str(json.loads(line)["id"])
            except (ValueError, KeyError, TypeError):  # a torn line: only ever the last one
                break
            if row_id != last_id:
                if last_id is not None:
                    done.add(last_id)
                last_id, last_start = row_id, offset
            offset += len(line)
    with path.open("rb+") as data:
        data.truncate(last_start)
    return done, last_id
