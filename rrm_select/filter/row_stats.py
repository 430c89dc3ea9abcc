"""What `rrm-select report` needs of each judged row, written beside the output.

The output holds what the user asked for (the best candidate, pairs, or the ranking) and stays
exactly that; the statistics file (``OUTPUT.stats.jsonl`` by default) holds one `RowStats` per
judged row, in the same order: its votes, abstentions, forced verdicts, order flips, how its
matches were decided, the winner's margin, tokens and cost.

Its resume rule differs from the output's, because a row may have statistics and no output
record (``--emit pairs`` with no pair to emit: such a row is judged again on every rerun). A
row's statistics are written after its output records; on opening, the file keeps its whole
rows up to the row the output cut (which the rerun judges again, and whose statistics it writes
anew) or a torn last line, and a row it kept is not written again. So a resumed run's file is
the uninterrupted run's. Beside a new output file, an old statistics file is another run's,
and is emptied.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from rrm_select import InvalidArgumentError, Selection
from rrm_select.filter.dataset import JsonlSink


class RowStats(BaseModel):
    """One judged row, summed over its selection's votes and matches."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    method: str
    candidates: int
    matches: int
    """Matches that got at least one vote."""
    votes: int
    abstentions: int
    forced_votes: int
    first_votes: int
    """Valid votes for the candidate shown as Assistant 1 (a judge free of position bias gives half)."""
    order_pairs: int
    order_flips: int
    decided_by: dict[str, int]
    """Matches by how they were decided (see `rrm_select.types.Decision`)."""
    margin: float | None
    """(votes for the winner - votes against it) / valid votes, over the matches it played: 1 when
    the judge never voted against it, near 0 for a close call; None without a valid vote."""
    stopped_early: str | None
    prompt_tokens: int
    completion_tokens: int
    """The tokens the row's votes took, served from the judgment cache or not."""
    cost_usd: float | None
    """What judging the row paid, where litellm knows a price (votes the judgment cache served
    cost nothing then); the one figure that differs between two runs that judged alike."""

    @classmethod
    def of(cls, row_id: str, selection: Selection) -> RowStats:
        votes, usage = selection.votes, selection.usage
        best = selection.best_index
        won = lost = 0
        for match in selection.matches:
            if best in (match.a, match.b):
                for_best, against = match.wins if match.a == best else match.wins[::-1]
                won, lost = won + for_best, lost + against
        return cls(
            id=row_id,
            method=selection.method,
            candidates=len(selection.candidates),
            matches=sum(1 for m in selection.matches if m.votes),
            votes=usage.votes,
            abstentions=usage.abstentions,
            forced_votes=usage.forced_votes,
            first_votes=sum(v.verdict == 1 for v in votes),
            order_pairs=usage.order_pairs,
            order_flips=usage.order_flips,
            decided_by=dict(Counter(m.decided_by for m in selection.matches)),
            margin=(won - lost) / (won + lost) if won + lost else None,
            stopped_early=selection.stopped_early,
            prompt_tokens=sum(v.prompt_tokens for v in votes),
            completion_tokens=sum(v.completion_tokens for v in votes),
            cost_usd=usage.cost_usd,
        )


def stats_path(output: str | Path) -> Path:
    """Where the statistics of the run writing `output` go by default: ``OUTPUT.stats.jsonl``."""
    return Path(f"{output}.stats.jsonl")


class StatsSink(JsonlSink):
    """The statistics file beside the output sink `beside`, resumed by its own rule (see the
    module docstring)."""

    def __init__(self, path: str | Path, beside: JsonlSink, sync_every: int = 100) -> None:
        self.beside = beside
        super().__init__(path, sync_every)
        self._kept = set(self.done)  # rows judged by an earlier run, which a rerun may judge again

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        fresh = [r for r in records if str(r["id"]) not in self._kept]
        self.done.update(str(r["id"]) for r in fresh)
        super().write(fresh)

    def _resume(self) -> set[str]:
        """Keep the whole rows up to the one the output cut (judged again, perhaps differently)
        or a torn last line; start afresh beside a new output (what is here is another run's)."""
        done: set[str] = set()
        keep = 0
        if self.beside.existed:
            with self.path.open("rb") as data:
                lines = data.readlines()
            for number, line in enumerate(lines, 1):
                try:
                    row_id = str(json.loads(line)["id"])
                except (ValueError, KeyError, TypeError):
                    if number < len(lines):
                        raise InvalidArgumentError(f"{self.path} line {number}: not a row's statistics; "
                                                   "remove the file to start it afresh") from None  # fmt: skip
                    break
                if row_id == self.beside.cut or not line.endswith(b"\n"):
                    break
                done.add(row_id)
                keep += len(line)
        with self.path.open("rb+") as data:
            data.truncate(keep)
        return done
