"""`rrm-select report`: what a filter run did, from the files it wrote.

    rrm-select report out.jsonl                 # text on the terminal
    rrm-select report out.jsonl --html run.html # a page with plots

It reads the output (rows judged), the rejects file (rows refused, by reason code) and the
statistics file beside the output (`rrm_select.filter.row_stats`: votes, flips, margins,
tokens). A run interrupted mid-write leaves a torn last line, which is noted, not fatal; a bad
line anywhere else stops the report with its file and line number.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from rrm_select import InvalidArgumentError
from rrm_select.calibration.report import Interval
from rrm_select.calibration.stats import wilson
from rrm_select.filter.row_stats import RowStats, stats_path

MARGIN_STEP = 0.1
"""The winner's margin is counted in bins this wide from 0 to 1, and one bin below 0 (a winner
that lost more votes than it won, which a knockout's answer prior or a round robin allows)."""


class RunReport(BaseModel):
    """A filter run in figures (see `summarise`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    output: str
    rows: int
    """Rows judged: those in the output (once each, however many records) or the statistics."""
    rejected: int
    rejects_by_code: dict[str, int]
    """Rejected rows by `rrm_select.RejectCode` (``"uncoded"``: written before rejects had codes)."""
    stats_rows: int
    """Rows the statistics file covers; the figures below are over those."""
    notes: tuple[str, ...]
    """What the report could not read, in words (a missing file, a torn last line)."""
    methods: dict[str, int]
    decided_by: dict[str, int]
    """Every match by how it was decided, judged or not."""
    matches: int
    """Matches with at least one vote."""
    votes: int
    abstentions: int
    forced_votes: int
    order_flip: Interval | None
    """Order flips per pair of votes that saw both orders (position bias), with its 95% interval
    (`clustered_share`)."""
    order_pairs: int
    first_share: Interval | None
    """Share of valid votes for Assistant 1 (0.5 for a judge without position bias), likewise."""
    valid_votes: int
    margins: tuple[int, ...]
    """Rows per bin of the winner's margin (`margin_bins`)."""
    median_margin: float | None
    stopped_early: dict[str, int]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    """What judging these rows paid, where litellm knows a price (see `RowStats.cost_usd`)."""
    priced_rows: int

    @property
    def abstention_rate(self) -> float | None:
        return self.abstentions / self.votes if self.votes else None

    @property
    def forced_rate(self) -> float | None:
        return self.forced_votes / self.votes if self.votes else None


def summarise(output: str | Path, rejects: str | Path | None = None, stats: str | Path | None = None) -> RunReport:
    """The report of the filter run that wrote `output` (its rejects and statistics files at
    their default places unless given)."""
    output = Path(output)
    notes: list[str] = []
    written = {str(r["id"]) for _, r in _records(output, notes)}
    rejects_path = Path(rejects or f"{output}.rejects.jsonl")
    codes = Counter(str(r.get("code", "uncoded")) for _, r in _records(rejects_path, notes, missing="no rejects file"))
    rows_stats = _row_stats(Path(stats or stats_path(output)), notes)
    # A row can be judged and write no record (no pair to emit): its statistics still count it.
    judged = written | {r.id for r in rows_stats}
    votes = sum(r.votes for r in rows_stats)
    valid = votes - sum(r.abstentions for r in rows_stats)
    pairs = sum(r.order_pairs for r in rows_stats)
    margins = [r.margin for r in rows_stats if r.margin is not None]
    costs = [r.cost_usd for r in rows_stats if r.cost_usd is not None]
    return RunReport(
        output=str(output),
        rows=len(judged),
        rejected=sum(codes.values()),
        rejects_by_code=dict(codes.most_common()),
        stats_rows=len(rows_stats),
        notes=tuple(notes),
        methods=dict(Counter(r.method for r in rows_stats).most_common()),
        decided_by=dict(sum((Counter(r.decided_by) for r in rows_stats), Counter()).most_common()),
        matches=sum(r.matches for r in rows_stats),
        votes=votes,
        abstentions=votes - valid,
        forced_votes=sum(r.forced_votes for r in rows_stats),
        order_flip=clustered_share([r.order_flips for r in rows_stats], [r.order_pairs for r in rows_stats]),
        order_pairs=pairs,
        first_share=clustered_share([r.first_votes for r in rows_stats], [r.votes - r.abstentions for r in rows_stats]),
        valid_votes=valid,
        margins=tuple(Counter(_margin_bin(m) for m in margins).get(b, 0) for b in range(len(margin_bins()))),
        median_margin=statistics.median(margins) if margins else None,
        stopped_early=dict(Counter(r.stopped_early for r in rows_stats if r.stopped_early).most_common()),
        prompt_tokens=sum(r.prompt_tokens for r in rows_stats),
        completion_tokens=sum(r.completion_tokens for r in rows_stats),
        cost_usd=sum(costs) if costs else None,
        priced_rows=len(costs),
    )


def clustered_share(hits: Sequence[int], trials: Sequence[int]) -> Interval | None:
    """The share ``sum(hits) / sum(trials)`` over rows, with a 95% Wilson interval that counts
    the trials as the evidence they are (None without a trial).

    The votes on one row (one query, the same candidates) agree with each other more than
    independent trials would, so the interval takes the ratio's effective sample size from the
    spread between rows (Kish's design effect): never more than the trials, and the number of
    rows where the rows cannot tell (fewer than two, or a share of 0 or 1)."""
    n = sum(trials)
    if not n:
        return None
    share = sum(hits) / n
    used = [(h, t) for h, t in zip(hits, trials, strict=True) if t]
    spread = sum((h - share * t) ** 2 for h, t in used) * len(used) / max(1, len(used) - 1) / n**2
    effective = min(n, share * (1 - share) / spread) if len(used) >= 2 and spread > 0 else min(n, len(used))
    return wilson(share, max(1, int(effective)))


def margin_bins() -> list[str]:
    """The margin bins, named: below 0, then `MARGIN_STEP` wide up to 1."""
    steps = round(1 / MARGIN_STEP)
    return ["below 0"] + [f"{i * MARGIN_STEP:.1f} to {(i + 1) * MARGIN_STEP:.1f}" for i in range(steps)]


def _margin_bin(margin: float) -> int:
    if margin < 0:
        return 0
    return 1 + min(int(margin / MARGIN_STEP + 1e-9), round(1 / MARGIN_STEP) - 1)  # a margin of 1 in the top bin


def _row_stats(path: Path, notes: list[str]) -> list[RowStats]:
    missing = "no statistics file: vote figures need a run of rrm-select filter that writes it"
    rows = []
    for number, record in _records(path, notes, missing=missing):
        try:
            rows.append(RowStats.model_validate(record))
        except ValidationError as exc:
            why = exc.errors()[0]["msg"]
            raise InvalidArgumentError(f"{path} line {number}: not a row's statistics ({why})") from None
    return rows


def _records(path: Path, notes: list[str], missing: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """The JSON objects of a JSONL file, with their line numbers; a torn last line is noted in
    `notes`, any other bad line raises. `missing`: what to note when the file does not exist
    (None: it must)."""
    if not path.is_file():
        if missing is None:
            raise InvalidArgumentError(f"no file {str(path)!r}")
        notes.append(f"{path}: {missing}")
        return
    with path.open("rb") as data:  # streamed: an output of ranking traces can be large
        for number, line in enumerate(data, 1):
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or "id" not in record:
                    raise ValueError("not a JSON object with an id")
            except ValueError as exc:
                if not line.endswith(b"\n"):  # only the last line can lack one
                    notes.append(f"{path}: its last line is torn (a run stopped mid-write; rerun filter to resume)")
                    return
                raise InvalidArgumentError(f"{path} line {number}: {exc}") from None
            yield number, record


def render(report: RunReport) -> str:
    """The report as text for a terminal."""
    lines = [f"report of {report.output}"]
    codes = ", ".join(f"{code} {count}" for code, count in report.rejects_by_code.items())
    lines.append(f"rows: {report.rows} judged, {report.rejected} rejected" + (f" ({codes})" if codes else ""))
    lines += [f"note: {note}" for note in report.notes]
    if not report.stats_rows:
        return "\n".join(lines)
    if report.stats_rows != report.rows:
        lines.append(f"statistics cover {report.stats_rows} of the {report.rows} judged rows; the figures are theirs")
    lines.append("methods: " + ", ".join(f"{m} {c}" for m, c in report.methods.items()))
    decided = ", ".join(f"{d} {c}" for d, c in report.decided_by.items())
    lines.append(f"matches: {sum(report.decided_by.values())} ({report.matches} judged); decided by {decided}")
    lines.append(f"votes: {report.votes:,} ({percent(report.abstention_rate)} abstained, "
                 f"{percent(report.forced_rate)} forced at the thinking budget)")  # fmt: skip
    lines.append(f"order flips: {interval_text(report.order_flip)} of {report.order_pairs:,} vote pairs that saw "
                 "both orders")  # fmt: skip
    lines.append(f"votes for Assistant 1: {interval_text(report.first_share)} of {report.valid_votes:,} valid votes")
    if report.stopped_early:
        lines.append("stopped early: " + ", ".join(f"{why} {c}" for why, c in report.stopped_early.items()))
    median = "n/a" if report.median_margin is None else f"{report.median_margin:.2f}"
    lines.append(f"winner's margin ((for - against) / valid votes over its matches): median {median}")
    top = max(report.margins, default=0) or 1
    for label, count in zip(margin_bins(), report.margins, strict=True):
        lines.append(f"  {label:>10}  {'#' * round(30 * count / top):<30} {count}")
    cost = "unknown (no price for the model)" if report.cost_usd is None else (
        f"${report.cost_usd:.4f} ({report.priced_rows} of {report.stats_rows} rows priced)")  # fmt: skip
    lines.append(f"judge tokens: {report.prompt_tokens + report.completion_tokens:,} (prompt {report.prompt_tokens:,},"
                 f" completion {report.completion_tokens:,}); cost paid: {cost}")  # fmt: skip
    return "\n".join(lines)


def percent(value: float | None) -> str:
    """A share as a percentage ("n/a" for none)."""
    return "n/a" if value is None else f"{value:.1%}"


def interval_text(value: Interval | None) -> str:
    """A share with its interval: "12.5% [8.1%, 18.0%]"."""
    return "n/a" if value is None else f"{value.estimate:.1%} [{value.low:.1%}, {value.high:.1%}]"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", help="the OUTPUT of a finished (or stopped) rrm-select filter run")
    parser.add_argument("--rejects", help="its rejects file (default: OUTPUT.rejects.jsonl)")
    parser.add_argument("--stats", help="its statistics file (default: OUTPUT.stats.jsonl)")
    parser.add_argument("--html", metavar="FILE", help="also write the report as a self-contained page with plots")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead")


def run_report(args: argparse.Namespace) -> int:
    """``rrm-select report``."""
    report = summarise(args.output, args.rejects, args.stats)
    if args.html:
        from rrm_select.views.report_page import report_page

        Path(args.html).write_text(report_page(report), encoding="utf-8")
    print(report.model_dump_json(indent=2) if args.json else render(report))
    return 0
