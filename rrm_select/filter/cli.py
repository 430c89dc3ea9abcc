"""The `rrm-select` command: filter datasets offline, or select from candidates at hand.

    rrm-select filter INPUT -o OUTPUT --model hosted_vllm/RRM-7B --api-base http://127.0.0.1:8000/v1
    rrm-select select --query "2+2?" answer1.txt answer2.txt --model ... --api-base ...
    rrm-select calibrate pairs.jsonl -o report.json --model ... --api-base ...
    rrm-select plan --report report.json --n 8 --max-tokens-per-prompt 60000
    rrm-select report out.jsonl --html run.html

Exit codes: 0 done; 2 invalid input or option (nothing judged); 3 the judge failed (rows
already written are kept: rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
from pathlib import Path
from typing import get_args

from rrm_select import (
    EarlyStop,
    Forcing,
    InvalidArgumentError,
    Judge,
    JudgeError,
    JudgmentCache,
    MissingDependencyError,
    OrderPolicy,
    RRMError,
    RRMFormat,
    ScriptedBackend,
    Selection,
    Selector,
)
from rrm_select.calibration.cli import add_arguments as calibration_arguments
from rrm_select.calibration.cli import run_calibrate
from rrm_select.filter.run_report import add_arguments as report_arguments
from rrm_select.filter.run_report import run_report
from rrm_select.planning.cli import add_arguments as plan_arguments
from rrm_select.planning.cli import run_plan
from rrm_select.settings import (
    DEFAULTS,
    SELECTORS,
    Settings,
    build_judge,
    build_selector,
    judge_format,
    settings_from,
    thinking_options,
)

EXIT_INVALID = 2
EXIT_JUDGE = 3

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rrm-select", description="Best-of-N selection with a reward reasoning model."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    filter_ = commands.add_parser("filter", help="select over every row of a dataset (resumable)")
    filter_.add_argument("input", help="JSONL or Parquet file, or a folder saved by datasets.save_to_disk")
    filter_.add_argument("-o", "--output", required=True, help="output JSONL (appended to on resume)")
    filter_.add_argument("--rejects", help="JSONL for rows that cannot be judged (default: OUTPUT.rejects.jsonl)")
    filter_.add_argument("--stats", help="JSONL of each judged row's votes, flips, margin and tokens, for "
                         "`rrm-select report` (default: OUTPUT.stats.jsonl)")  # fmt: skip
    filter_.add_argument("--emit", choices=["best", "pairs", "ranking"], default="best")
    filter_.add_argument(
        "--margin", type=float, help="with --emit pairs: every pair with this score gap, not best/worst"
    )
    filter_.add_argument("--query-field", default="prompt")
    filter_.add_argument("--candidates-field", default="responses")
    filter_.add_argument("--id-field", default="id")
    filter_.add_argument("--rows-in-flight", type=int, default=64, help="selections running at once")
    filter_.add_argument("--cache", help="judgment cache (SQLite; default: OUTPUT.cache.sqlite)")
    filter_.add_argument("--no-cache", action="store_true", help="do not read or write a judgment cache")
    filter_.add_argument("--clear-cache", action="store_true", help="empty the judgment cache before starting")
    filter_.add_argument("--dry-run", action="store_true", help="show the judge requests and a token estimate only")
    ray = filter_.add_argument_group("ray (pip install 'rrm-select[ray]')")
    ray.add_argument("--ray", action="store_true", help="judge on Ray actors, each with its own judge (same output)")
    ray.add_argument("--ray-address", help="a running Ray cluster (default: start a local one)")
    ray.add_argument("--ray-actors", type=int, default=2, help="actors (each runs --rows-in-flight rows at once)")
    ray.add_argument("--ray-cpus", type=float, default=0.5, help="CPUs per actor (an endpoint client mostly waits)")
    ray.add_argument("--ray-gpus", type=float, default=0, help="GPUs per actor (1 for --vllm on a GPU cluster)")
    _judge_options(filter_)

    select = commands.add_parser("select", help="select from candidates given as files or on stdin")
    select.add_argument("--query", required=True)
    select.add_argument("files", nargs="*", help="one candidate per file; none: a JSON list or one per line on stdin")
    select.add_argument("--json", action="store_true", help="print the whole result as JSON")
    select.add_argument("--html", metavar="FILE", help="also write the result as a self-contained page: the bracket "
                        "or the ratings, every vote and the judge's reasoning")  # fmt: skip
    _judge_options(select)

    calibrate = commands.add_parser("calibrate", help="measure the judge on labelled chosen/rejected pairs")
    calibration_arguments(calibrate)
    _judge_options(calibrate)

    planning = commands.add_parser("plan", help="rank selector settings for a judge (from its calibration report)")
    plan_arguments(planning)

    report = commands.add_parser("report", help="summarise a filter run: rejects, votes, position bias, margins, cost")
    report_arguments(report)
    return parser


def _judge_options(parser: argparse.ArgumentParser) -> None:
    judge = parser.add_argument_group("judge")
    judge.add_argument("--model", help="litellm model, e.g. hosted_vllm/Reward-Reasoning/RRM-7B (with --client "
                       "http: the name the server serves, e.g. Reward-Reasoning/RRM-7B)")  # fmt: skip
    judge.add_argument("--client", choices=["litellm", "http"], default=DEFAULTS.client, help="how to reach --api-base: "
                       "litellm (any provider, fleets) or http (one OpenAI-compatible server, far less client CPU)")  # fmt: skip
    judge.add_argument("--api-base", action="append", help="OpenAI-compatible endpoint, e.g. "
                       "http://127.0.0.1:8000/v1; repeat it for a fleet of servers of the model")  # fmt: skip
    judge.add_argument("--api-key-env", default=DEFAULTS.api_key_env, help="environment variable holding the API key")
    judge.add_argument("--vllm", metavar="MODEL", help="run MODEL in-process with vLLM instead of an endpoint")
    judge.add_argument("--vllm-arg", action="append", default=[], metavar="KEY=VALUE",
                       help="with --vllm: an engine option, e.g. max_model_len=4096 (repeatable; JSON values)")  # fmt: skip
    judge.add_argument("--concurrency", type=int, default=DEFAULTS.concurrency, help="judge requests in flight at once")
    judge.add_argument("--max-tokens", type=int, help="tokens per vote, reasoning and answer (default: 8192; "
                       "with a thinking budget, the budget plus room for the verdict)")  # fmt: skip
    judge.add_argument("--thinking-budget", type=int, metavar="TOKENS", help="reasoning tokens per vote; a vote "
                       "still thinking then is closed and answers from what it has (budget forcing)")  # fmt: skip
    judge.add_argument("--forcing", choices=list(get_args(Forcing)), help="how reasoning is closed at the budget: "
                       "by the server (vLLM's thinking_token_budget; the default) or by the client")  # fmt: skip
    judge.add_argument("--temperature", type=float, default=DEFAULTS.temperature)
    judge.add_argument("--timeout", type=float, default=DEFAULTS.timeout, help="seconds per judge request")
    judge.add_argument("--max-attempts", type=int, default=DEFAULTS.max_attempts, help="attempts per request on transient failures")
    judge.add_argument("--max-text-chars", type=int, metavar="CHARS", help="cut a query or candidate longer than "
                       "CHARS to its first and last CHARS/2 characters (default: send whole, refuse what is too long)")  # fmt: skip
    judge.add_argument("--verdict-rule", choices=list(RRMFormat.versions), default=DEFAULTS.verdict_rule,
                       help="how a verdict is read: the RRM reference code's rule, or the lenient one rrm_select "
                       "used before (its cached votes stay valid)")  # fmt: skip
    judge.add_argument("--force-verdict", type=int, metavar="CHARS", help="structured outputs: at most CHARS of "
                       "reasoning, then a forced verdict (for weak judges)")  # fmt: skip
    method = parser.add_argument_group("selection")
    method.add_argument("--method", choices=list(SELECTORS), default=DEFAULTS.method)
    method.add_argument("--votes", type=int, default=DEFAULTS.votes)
    method.add_argument("--order", choices=list(get_args(OrderPolicy)), default=DEFAULTS.order)
    method.add_argument("--seed", type=int, default=DEFAULTS.seed)
    method.add_argument(
        "--early-stop",
        choices=list(get_args(EarlyStop)),
        default=DEFAULTS.early_stop,
        help="vote in waves and stop once the majority is decided (or confident)",
    )
    method.add_argument("--confidence", type=float, default=DEFAULTS.confidence, help="for --early-stop confident")
    method.add_argument(
        "--finalists",
        type=int,
        default=DEFAULTS.finalists,
        help="knockout down to this many (a power of two), then a round robin among them",
    )
    method.add_argument("--budget", type=int, help="at most this many judge calls per selection (best so far after)")
    method.add_argument("--token-budget", type=int, metavar="TOKENS",
                        help="judge tokens (prompt and completion) per selection (best so far after)")  # fmt: skip
    method.add_argument("--thinking-budgets", type=_budgets, metavar="T1,T2,...", help="escalation, e.g. 1024,8192: "
                        "a match's first votes think T1 tokens, and each wave that leaves it contested the next "
                        "budget (needs --votes 3 or more)")  # fmt: skip
    method.add_argument(
        "--deadline", type=float, metavar="SECONDS", help="judging time per selection (best so far after)"
    )
    method.add_argument(
        "--hedge",
        type=float,
        metavar="FACTOR",
        help="resend a judge request once it runs FACTOR times the median latency; first answer wins",
    )
    method.add_argument("--answer", metavar="SPEC", help="each candidate's final answer, so that candidates with "
                        "the same one are not judged against each other: boxed|number|regex:PATTERN|json:FIELD")  # fmt: skip


def _budgets(value: str) -> tuple[int, ...]:
    """``--thinking-budgets``: comma-separated integers (the selector checks the rest)."""
    try:
        return tuple(int(part) for part in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"want comma-separated token counts, e.g. 1024,8192, got {value!r}") from None


def settings_of(args: argparse.Namespace) -> Settings:
    """The judge and selection settings the command line gives; the defaults for the rest."""
    given = {name: getattr(args, name, None) for name in Settings.model_fields}
    return settings_from({name: value for name, value in given.items() if value is not None}, what="option")


def make_judge(args: argparse.Namespace) -> Judge:
    """The judge the command line describes: in-process vLLM, or an endpoint client."""
    return build_judge(settings_of(args))


def make_selector(judge: Judge, args: argparse.Namespace) -> Selector:
    """The selector the command line describes (``--method``, ``--votes``, ...), judging with `judge`."""
    return build_selector(settings_of(args), judge)


def filter_selector(args: argparse.Namespace) -> Selector:
    """The judge (with its cache) and selector of `filter`: built once per run, or once per actor
    with ``--ray``."""
    judge = make_judge(args)
    if not args.no_cache:
        judge.cache = JudgmentCache(args.cache)
    return make_selector(judge, args)


def run_filter(args: argparse.Namespace) -> int:
    """``rrm-select filter``: every row of the input through one selector (or Ray actors)."""
    from rrm_select.filter.dataset import Fields, JsonlSink, count_rows, read_rows
    from rrm_select.filter.job import FilterJob, FilterStats
    from rrm_select.filter.progress import ProgressLine, describe
    from rrm_select.filter.row_stats import StatsSink, stats_path

    fields = Fields(query=args.query_field, candidates=args.candidates_field, id=args.id_field)
    rows = read_rows(args.input)
    if args.dry_run:
        from rrm_select.filter.dry_run import estimate

        # The run's own selector over a judge that is never called: a dry run needs no model or server.
        settings = settings_of(args)
        never_called = Judge(ScriptedBackend(lambda query, first, second: None), format=judge_format(settings),
                             **thinking_options(settings))  # fmt: skip
        print(estimate(rows, fields, make_selector(never_called, args), args))
        return 0
    if args.rows_in_flight < 1:
        raise InvalidArgumentError("--rows-in-flight must be >= 1")
    if not args.no_cache:
        args.cache = str(Path(args.cache or f"{args.output}.cache.sqlite").resolve())  # the same file for every actor
        if args.clear_cache:
            JudgmentCache(args.cache).clear()
    # In one process the judge is built first, so a bad judge option leaves no file behind.
    selector = None if args.ray else filter_selector(args)
    progress = ProgressLine()
    output, rejects = JsonlSink(args.output), JsonlSink(args.rejects or f"{args.output}.rejects.jsonl")
    row_stats = StatsSink(args.stats or stats_path(args.output), beside=output)
    stats = FilterStats(total=count_rows(args.input))
    try:
        if selector is None:
            from rrm_select.filter.ray_stage import actor_env, filter_on_ray

            filter_on_ray(rows, functools.partial(filter_selector, args), output, rejects, stats,
                          row_stats=row_stats, on_progress=progress, fields=fields, emit=args.emit,
                          margin=args.margin, seed=args.seed, batch_size=args.rows_in_flight,
                          concurrency=args.ray_actors, num_cpus=args.ray_cpus, num_gpus=args.ray_gpus,
                          env=actor_env([args.api_key_env]), address=args.ray_address)  # fmt: skip
        else:
            job = FilterJob(selector, output, rejects, fields=fields, mode=args.emit, margin=args.margin,
                            seed=args.seed, window=args.rows_in_flight, on_progress=progress, stats=stats,
                            row_stats=row_stats)  # fmt: skip
            asyncio.run(job.run(rows))
    finally:
        progress.finish()
        if selector is not None:
            selector.judge.close()
    print(f"done: {describe(stats)}; wrote {stats.written} rows to {args.output}", file=sys.stderr)
    return 0


def run_select(args: argparse.Namespace) -> int:
    if args.files:
        candidates = [Path(f).read_text(encoding="utf-8") for f in args.files]
    else:
        text = sys.stdin.read()
        stripped = text.strip()
        candidates = (
            json.loads(stripped) if stripped.startswith("[") else [ln for ln in text.splitlines() if ln.strip()]
        )
    if args.html and not Path(args.html).resolve().parent.is_dir():  # found out before the judge is paid
        raise InvalidArgumentError(f"--html: there is no folder {str(Path(args.html).parent)!r} to write it in")
    judge = make_judge(args)
    try:
        result = make_selector(judge, args).select(args.query, candidates)
    finally:
        judge.close()
    if args.html:
        Path(args.html).write_text(result.to_html(), encoding="utf-8")
    print(result.model_dump_json(indent=2) if args.json else render(result))
    return 0


def render(result: Selection) -> str:
    """A readable view: a bracket for knockout, a ratings table for ELO."""

    def preview(i: int) -> str:
        return result.candidates[i].strip().replace("\n", " ")[:60]

    lines = [f"best: [{result.best_index}] {preview(result.best_index)}", ""]
    if result.method == "knockout":
        for match in result.matches:
            a, b = match.wins
            lines.append(
                f"round {match.round}: [{match.a}] {a}-{b} [{match.b}] -> [{match.winner}] ({match.decided_by})"
            )
    else:
        lines.append(f"{'rank':>4} {'cand':>4} {'rating':>7}  text")
        for rank, i in enumerate(result.ranking, 1):
            lines.append(f"{rank:>4} {i:>4} {result.scores[i]:>7.1f}  {preview(i)}")
    u = result.usage
    forced = f", {u.forced_votes} forced at the thinking budget" if u.forced_votes else ""
    lines += ["", f"{u.requests} requests, {u.votes} votes ({u.abstentions} abstained{forced}), {u.wall_time_s:.1f} s"]
    if u.flip_rate is not None:
        lines.append(f"order flips: {u.flip_rate:.1%} of {u.order_pairs} vote pairs that saw both orders")
    if result.stopped_early:
        why = result.stopped_early
        if why == "tokens":
            why += f": {u.prompt_tokens + u.completion_tokens:,} judge tokens spent"
        lines.append(f"stopped early ({why}): the best so far")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "calibrate":
            return run_calibrate(args, settings_of(args))
        if args.command == "plan":
            return run_plan(args)
        if args.command == "report":
            return run_report(args)
        return run_filter(args) if args.command == "filter" else run_select(args)
    except (InvalidArgumentError, MissingDependencyError, json.JSONDecodeError, OSError) as exc:
        print(f"rrm-select: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except JudgeError as exc:
        print(f"rrm-select: judge failed: {exc} (rows written so far are kept; rerun to resume)", file=sys.stderr)
        return EXIT_JUDGE
    except RRMError as exc:
        print(f"rrm-select: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("rrm-select: interrupted (rows written so far are kept; rerun to resume)", file=sys.stderr)
        return 130
