"""``rrm-select calibrate PAIRS -o REPORT.json``: the judge of the usual options on labelled pairs.

It prints the report's table and writes the report as JSON. Rows that are not valid pairs go to
the rejects file with the reason (rewritten each run, as the report is); a file with no valid
row stops with one line (exit 2). Votes are cached (``REPORT.json.cache.sqlite`` by default), so
a run cut short and run again asks only what it had not asked.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rrm_select import InvalidArgumentError, JudgmentCache
from rrm_select.calibration.runner import calibrate
from rrm_select.filter.dataset import JsonlSink, read_rows
from rrm_select.settings import DEFAULTS, SELECTION_KEYS, Settings, build_judge

CALIBRATION_KEYS = frozenset({"votes", "order", "seed", "hedge"})
"""The selection settings a calibration uses; the others (method, budgets, ...) choose nothing here."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``calibrate`` besides the judge's (`filter.cli`'s judge options)."""
    parser.add_argument("pairs", help="JSONL or Parquet of labelled pairs: prompt, chosen, rejected (and subset)")
    parser.add_argument("-o", "--output", required=True, help="the report (JSON)")
    parser.add_argument("--rejects", help="JSONL for rows that are not valid pairs (default: OUTPUT.rejects.jsonl)")
    for name in ("prompt", "chosen", "rejected", "subset", "id"):
        parser.add_argument(f"--{name}-field", default=name)
    parser.add_argument("--resamples", type=int, default=0, help="resample a vote without a parseable verdict this "
                        "many times (default 0; the reference score uses each vote's first sample anyway)")  # fmt: skip
    parser.add_argument("--pairs-in-flight", type=int, default=64, help="pairs judged at once")
    parser.add_argument("--cache", help="judgment cache (SQLite; default: OUTPUT.cache.sqlite)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write a judgment cache")


def run_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``calibrate`` with the judge `settings` describe."""
    unused = sorted(k for k in SELECTION_KEYS - CALIBRATION_KEYS if getattr(settings, k) != getattr(DEFAULTS, k))
    if unused:
        raise InvalidArgumentError(f"--{unused[0].replace('_', '-')} does not apply to calibrate")
    if args.resamples < 0:
        raise InvalidArgumentError("--resamples must be >= 0")
    rows = read_rows(args.pairs)
    judge = build_judge(settings)
    judge.retry = judge.retry.model_copy(update={"resamples": args.resamples})
    if not args.no_cache:
        judge.cache = JudgmentCache(args.cache or f"{args.output}.cache.sqlite")
    rejects_path = Path(args.rejects or f"{args.output}.rejects.jsonl")
    rejects_path.unlink(missing_ok=True)
    rejects = JsonlSink(rejects_path)
    try:
        report = calibrate(rows, judge, votes=settings.votes, order=settings.order, seed=settings.seed,
                           prompt_field=args.prompt_field, chosen_field=args.chosen_field,
                           rejected_field=args.rejected_field, subset_field=args.subset_field, id_field=args.id_field,
                           pairs_in_flight=args.pairs_in_flight,
                           on_reject=lambda rid, reason: rejects.write([{"id": rid, "reason": reason}]))  # fmt: skip
    finally:
        rejects.close()
        judge.close()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    print(report.table())
    done = f"done: {report.overall.pairs} pairs judged, {report.rejected} rejected; wrote {args.output}"
    print(done, file=sys.stderr)
    return 0
