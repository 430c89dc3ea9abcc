"""A filter run's report as a page (``rrm-select report OUTPUT --html FILE``): the figures of
`rrm_select.filter.run_report.RunReport`, with its counts and rates drawn as inline SVG bars."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from rrm_select.calibration.report import Interval
from rrm_select.filter.run_report import RunReport, interval_text, margin_bins, percent
from rrm_select.views.html import bars, escape, page, table, tag, text


def report_page(report: RunReport) -> str:
    """The page of a `RunReport`."""
    parts = [f"<h1>Filter run: <bdi>{escape(Path(report.output).name)}</bdi></h1>",
             f'<p class="muted">{text(report.output)}</p>']
    parts += [f'<div class="tags">{tag(note, warn=True)}</div>' for note in report.notes]
    parts.append(_figures(report))
    if report.rejects_by_code:
        parts += ["<h2>Rejected rows, by reason</h2>", _counts(report.rejects_by_code, "rejected rows")]
    if report.stats_rows:
        parts += ["<h2>How the matches were decided</h2>", _counts(report.decided_by, "matches")]
        parts += ["<h2>Position bias</h2>", _bias(report)]
        parts += ["<h2>The winner's margin</h2>",
                  '<p class="muted">(votes for the winner − votes against) / valid votes, over the matches it '
                  "played: 1 when the judge never voted against it; near 0, a close call.</p>",
                  _margins(report)]  # fmt: skip
    return page(f"rrm_select report: {report.output}", "".join(parts))


def _figures(report: RunReport) -> str:
    rows = [["rows judged", f"{report.rows:,}"], ["rows rejected", f"{report.rejected:,}"]]
    if report.stats_rows:
        rows += [
            ["rows with statistics", f"{report.stats_rows:,}"],
            ["matches", f"{sum(report.decided_by.values()):,}"],
            ["matches judged (with a vote)", f"{report.matches:,}"],
            ["votes", f"{report.votes:,}"],
            ["abstained", percent(report.abstention_rate)],
            ["forced at the thinking budget", percent(report.forced_rate)],
            ["order flips (both orders disagree)", _interval(report.order_flip, report.order_pairs, "pairs")],
            ["votes for Assistant 1", _interval(report.first_share, report.valid_votes, "valid votes")],
            ["judge tokens", f"{report.prompt_tokens + report.completion_tokens:,}"],
            ["judge cost paid", "unknown" if report.cost_usd is None else f"${report.cost_usd:.4f}"],
        ]
        rows += [[f"stopped early ({why})", f"{count:,}"] for why, count in report.stopped_early.items()]
    return table(["", ""], [[escape(name), escape(value)] for name, value in rows], numeric=[1])


def _counts(counts: Mapping[str, int], unit: str) -> str:
    return bars(list(counts), [float(c) for c in counts.values()], title=f"{unit} by kind")


def _bias(report: RunReport) -> str:
    shown = [(name, share) for name, share in (("order flips", report.order_flip),
             ("votes for Assistant 1", report.first_share)) if share is not None]  # fmt: skip
    if not shown:  # without a valid vote there is neither share
        return '<p class="muted">No valid vote.</p>'
    chart = bars([name for name, _ in shown], [100 * s.estimate for _, s in shown], unit="%",
                 whiskers=[(100 * s.low, 100 * s.high) for _, s in shown], domain=(0.0, 100.0),
                 title="shares with their 95% intervals")  # fmt: skip
    return (f'{chart}<p class="muted">A judge free of position bias flips rarely and gives Assistant 1 half of its '
            "votes; the whiskers are 95% intervals, rows counted as the clusters of votes they are.</p>")  # fmt: skip


def _margins(report: RunReport) -> str:
    return bars(margin_bins(), [float(c) for c in report.margins], title="rows by the winner's margin")


def _interval(value: Interval | None, n: int, unit: str) -> str:
    return "n/a" if value is None else f"{interval_text(value)} of {n:,} {unit}"
