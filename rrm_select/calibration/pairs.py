"""Labelled pairs in the RewardBench layout: a prompt, the chosen and the rejected answer.

A row holds `prompt` (a string, or chat messages: the judge sees them as `filter` shows them),
`chosen` and `rejected` (strings, or assistant messages) and, optionally, `subset`. A row that
cannot be scored says why, as a `BadRow`, and is rejected rather than judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rrm_select import BadRow, candidate_text, query_text, unicode_error
from rrm_select.filter.dataset import Fields, row_id

CHOSEN, REJECTED = 0, 1
"""The candidate indices of a pair's answers in its votes (`Vote.first`, `Vote.second`)."""


@dataclass(frozen=True)
class PairFields:
    """Which fields of a row hold what."""

    prompt: str = "prompt"
    chosen: str = "chosen"
    rejected: str = "rejected"
    subset: str = "subset"
    id: str = "id"
    """Row id field; rows without it are numbered by position (0-based), as in `filter`."""


@dataclass(frozen=True)
class LabelledPair:
    """One checked row: the texts the judge sees and the subset it is reported under."""

    id: str
    query: str
    chosen: str
    rejected: str
    subset: str | None


def pair_id(raw: dict[str, Any], position: int, fields: PairFields) -> str:
    """A row's id: its id field, else its position in the input."""
    return row_id(raw, position, Fields(id=fields.id))


def check_pair(raw: dict[str, Any], position: int, fields: PairFields) -> LabelledPair:
    """Normalise one raw row, or raise `BadRow` saying what is wrong with it."""
    if "_not_an_object" in raw:
        raise BadRow("row is not a JSON object", "not_an_object")
    for field in (fields.prompt, fields.chosen, fields.rejected):
        if raw.get(field) is None:
            raise BadRow(f"missing field {field!r}", "missing_query" if field == fields.prompt else "missing_candidates")
    query = query_text(raw[fields.prompt])
    texts = {}
    for name in (fields.chosen, fields.rejected):
        try:
            texts[name] = candidate_text(raw[name], 0)
        except BadRow:
            raise BadRow(f"{name!r} is not text (a string, or a message with text content)", "bad_candidate") from None
    chosen, rejected = texts[fields.chosen], texts[fields.rejected]
    for what, text in (("prompt", query), ("chosen", chosen), ("rejected", rejected)):
        if unicode_error(text) is not None:
            raise BadRow(f"{what} is not valid Unicode (it holds a lone surrogate)", "invalid_unicode")
    if chosen.strip() == rejected.strip():
        raise BadRow("chosen and rejected are the same text", "same_texts")
    subset = raw.get(fields.subset)
    named = None if subset is None else str(subset)
    return LabelledPair(pair_id(raw, position, fields), query, chosen, rejected, named)
