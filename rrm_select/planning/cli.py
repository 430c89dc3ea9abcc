"""``rrm-select plan``: rank selector settings for a judge, from its calibration report or by hand.

    rrm-select plan --report report.json --n 8 --max-tokens-per-prompt 60000
    rrm-select plan --accuracy 0.8 --bias 0.55 --tokens-per-vote 3000 --n 8 --target 0.85
    rrm-select plan --report r1024.json --report r8192.json --n 8   # thinking budgets, escalation

It prints the ranked table and the recommended selector (a line of Python and CLI flags);
``--json`` prints the whole `Plan` as JSON instead.
"""

from __future__ import annotations

import argparse

from rrm_select import InvalidArgumentError
from rrm_select.planning.plan import plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``plan``."""
    parser.add_argument("--report", action="append", help="a calibration report (JSON, from rrm-select calibrate); "
                        "repeat it for reports of one judge at different thinking budgets")  # fmt: skip
    parser.add_argument("--n", type=int, required=True, help="candidates per selection")
    judge = parser.add_argument_group("the judge by hand (overriding the report's figures)")
    judge.add_argument("--accuracy", type=float, help="single-vote pairwise accuracy (an abstention scores 0.5)")
    judge.add_argument("--bias", type=float, help="share of valid votes for Assistant 1 (0.5: unbiased)")
    judge.add_argument("--tokens-per-vote", type=float, help="judge tokens (prompt + completion) per vote")
    judge.add_argument("--abstain", type=float, help="share of votes without a verdict")
    judge.add_argument("--latency-per-vote", type=float, help="seconds per vote (one wave of requests)")
    judge.add_argument("--ceiling", type=float, default=1.0, help="the judge's accuracy on pairs far apart (default 1)")
    answers = parser.add_argument_group("answers (to plan majority voting and the answer-aware knockout)")
    answers.add_argument("--answer-share", type=float, help="share of candidates giving the right answer")
    answers.add_argument("--wrong-answers", default="0.5,0.3,0.2", help="how the wrong ones split, as weights "
                         "(default 0.5,0.3,0.2: three wrong answers)")  # fmt: skip
    goal = parser.add_argument_group("goal")
    goal.add_argument("--max-tokens-per-prompt", type=float, help="the most judge tokens one selection may spend "
                      "(its worst case is checked)")  # fmt: skip
    goal.add_argument("--target", type=float, help="an accuracy to reach: the cheapest setting reaching it first")
    sim = parser.add_argument_group("simulation")
    sim.add_argument("--selections", type=int, default=2000, help="simulated selections per setting (default 2000)")
    sim.add_argument("--plan-seed", type=int, default=0, help="the simulation's seed")
    parser.add_argument("--json", action="store_true", help="print the whole plan as JSON")


def run_plan(args: argparse.Namespace) -> int:
    """Run ``plan`` with the parsed options."""
    reports = args.report[0] if args.report and len(args.report) == 1 else args.report
    result = plan(reports, n=args.n, accuracy=args.accuracy, bias=args.bias, tokens_per_vote=args.tokens_per_vote,
                  abstain=args.abstain, latency_per_vote=args.latency_per_vote,
                  max_tokens_per_prompt=args.max_tokens_per_prompt, target=args.target, selections=args.selections,
                  seed=args.plan_seed, ceiling=args.ceiling, answer_share=args.answer_share,
                  wrong_answers=_weights(args.wrong_answers))  # fmt: skip
    print(result.model_dump_json(indent=2) if args.json else result.table())
    return 0


def _weights(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(w) for w in text.split(","))
    except ValueError as exc:
        raise InvalidArgumentError(f"--wrong-answers must be comma-separated weights, got {text!r}") from exc
