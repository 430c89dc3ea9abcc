"""The performance suite of issue 6: how close selections come to the critical path, what they
send, what they cost the client, how accurate they are, and what adaptive voting, hedging, the
knockout with finalists and a call budget change.

    .venv/bin/python benchmarks/suite.py            # the full run (about 7 minutes on 2 cores)
    .venv/bin/python benchmarks/suite.py --quick    # a smoke run (about a minute), written to a temp folder
    .venv/bin/python benchmarks/suite.py --only budget   # rerun one section, keep the rest

The full run writes benchmarks/results/suite.json (every figure), suite.md (the tables, also
printed) and suite.png, and rewrites the README's block between the suite markers.

Sections (each a function below):

- critical path: real `LiteLLMJudge` over HTTP against the simulated judge (benchmarks/sim_judge.py,
  in its own process) with a fixed latency and no capacity limit. Wall time over rounds x latency,
  requests and votes counted at the server against the tournament's count, client CPU.
- client CPU: selections against an in-process judge that answers instantly (no litellm, no
  HTTP): the CPU time rrm_select itself spends per vote.
- accuracy: `ScriptedJudge` (in-process, Bernoulli(p) per vote) against the true best, next to
  the Monte-Carlo model (benchmarks/montecarlo.py), for knockout, knockout + 4 finalists and ELO.
- adaptive voting: votes and requests with early_stop "decided" / "confident" against "off",
  and the latency that voting in waves costs.
- hedging: selection latency percentiles on a lognormal latency profile over HTTP, with and
  without `Hedge`, and the extra requests.
- budget: accuracy and calls under `budget=M`, and how often a selection stopped early.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
# litellm opens at most 500 connections per host by default; the simulated server takes every
# request at once, and so must the client for the critical path to be what is measured.
os.environ.setdefault("AIOHTTP_CONNECTOR_LIMIT", "16384")
os.environ.setdefault("AIOHTTP_CONNECTOR_LIMIT_PER_HOST", "16384")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import montecarlo
import suite_report
from sim_judge import Profile, SimJudge, candidate_text, quality_of

from rrm_select import (
    EloSelector,
    Hedge,
    Judge,
    KnockoutSelector,
    LiteLLMJudge,
    ScriptedJudge,
    Selection,
    Selector,
    SwissSelector,
)
from rrm_select import Backend, Generation, Prompt, Sample
from rrm_select.judges.litellm_transport import import_litellm

RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent.parent / "README.md"
QUERY = "Which answer is best?"


@dataclass(frozen=True)
class Plan:
    """What one run measures and how hard it tries."""

    ns: tuple[int, ...] = (4, 8, 16, 32, 64)
    ks: tuple[int, ...] = (1, 3, 5)
    latency_s: float = 2.0
    """The simulated judge's fixed latency on the critical-path runs."""
    headline_repeats: int = 2
    """Extra runs of the largest knockout (the target's point), for its spread."""
    critical_path_runs: int = 1
    """Runs of the whole critical-path grid; with more than one, each cell is their median."""
    accuracies: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9)
    accuracy_ns: tuple[int, ...] = (8, 16)
    """Candidate counts of the accuracy runs: every method and k at the first; at the others no ELO
    (its calls grow as N^2) and only the smaller votes of `large_n_ks`, to stay within minutes."""
    large_n_ks: tuple[int, ...] = (1, 3)
    selections: int = 150
    mc_trials: int = 20_000
    adaptive_ks: tuple[int, ...] = (3, 5, 9)
    adaptive_selections: int = 120
    wave_latency_s: float = 0.4
    """The in-process judge's latency when timing the waves of adaptive voting: long enough that
    other processes' load on a shared machine hardly shows in it."""
    wave_selections: int = 32
    """Selections timed at once per point (how many waves a selection needs varies a lot)."""
    hedge_profile: Profile = field(default_factory=lambda: Profile("lognormal", median_s=0.25, sigma=1.0, seed=6))
    hedge_selections: int = 100
    hedge_concurrency: int = 10
    """Few enough that litellm's CPU per request (about 6 ms) does not queue requests."""
    budget_n: int = 16
    budgets: tuple[int, ...] = (8, 16, 32, 64)
    budget_selections: int = 100
    seed: int = 6


QUICK = Plan(
    ns=(4, 16),
    ks=(1, 5),
    latency_s=0.3,
    headline_repeats=1,
    accuracies=(0.7, 0.9),
    accuracy_ns=(8,),
    large_n_ks=(1,),
    selections=40,
    mc_trials=4000,
    adaptive_ks=(3, 5),
    adaptive_selections=40,
    wave_latency_s=0.1,
    wave_selections=8,
    hedge_profile=Profile("lognormal", median_s=0.1, sigma=1.0, seed=6),
    hedge_selections=30,
    budgets=(8, 32),
    budget_selections=40,
)

MakeSelector = Callable[..., Selector]
METHODS: dict[str, MakeSelector] = {
    "knockout": KnockoutSelector,
    "knockout+4": lambda judge, **options: KnockoutSelector(judge, finalists=4, **options),
    "elo": EloSelector,
    "swiss": SwissSelector,
}
SECTIONS = ("critical_path", "hedging", "client_cpu", "accuracy", "adaptive", "budget")
"""The report's sections, in the order they run."""
BUDGETED = (("knockout", 1), ("knockout", 3), ("knockout+4", 1), ("swiss", 1), ("elo", 1))
"""The (method, votes) pairs the budget section compares."""


def swiss_rounds(n: int) -> int:
    return min(math.ceil(math.log2(n)) + 1, n - 1)


def tournament_matches(method: str, n: int) -> int:
    if method == "elo" or (method == "knockout+4" and n <= 4):
        return n * (n - 1) // 2
    if method == "swiss":
        return swiss_rounds(n) * (n // 2)
    return n - 1 if method == "knockout" else n - 4 + 6


def critical_rounds(method: str, n: int) -> int:
    """Judge latencies on the longest chain of dependent matches."""
    rounds = math.ceil(math.log2(n))
    if method == "elo" or (method == "knockout+4" and n <= 4):
        return 1
    if method == "swiss":
        return swiss_rounds(n)
    return rounds if method == "knockout" else rounds - 2 + 1


def draw_candidates(n: int, rng: np.random.Generator) -> tuple[list[str], int]:
    """Candidate texts with hidden qualities, and the index of the truly best."""
    qualities = rng.random(n)
    return [candidate_text(i, q) for i, q in enumerate(qualities)], int(np.argmax(qualities))


def http_judge(sim: SimJudge, **options: Any) -> LiteLLMJudge:
    return LiteLLMJudge(
        "hosted_vllm/sim-rrm", api_base=sim.api_base, api_key="sim", max_concurrency=100_000, max_tokens=64, **options
    )


# --- critical path and calls, over HTTP ---------------------------------------------------------


async def critical_path(plan: Plan, sim: SimJudge) -> list[dict[str, Any]]:
    """The grid `plan.critical_path_runs` times; each cell the median run, all ratios kept."""
    runs = [await critical_path_once(plan, sim) for _ in range(plan.critical_path_runs)]
    if len(runs) == 1:
        return runs[0]
    merged = []
    for cells in zip(*runs, strict=True):  # every run plays the same points in the same order
        ratios = [cell["ratio"] for cell in cells]
        median = min(cells, key=lambda cell: abs(cell["ratio"] - statistics.median(ratios)))
        merged.append({**median, "ratio": round(statistics.median(ratios), 3), "ratio_runs": ratios})
    return merged


async def critical_path_once(plan: Plan, sim: SimJudge) -> list[dict[str, Any]]:
    judge = http_judge(sim)
    rng = np.random.default_rng(plan.seed)
    sim.reset(Profile(median_s=0.05))
    await KnockoutSelector(judge, seed=0).aselect(QUERY, draw_candidates(8, rng)[0])  # warm the HTTP client
    # The repeats of the target's point come before the ELO runs: litellm is still closing the
    # thousands of connections of a large round robin during the next run, at a CPU cost.
    runs = [("knockout", n, k) for n in plan.ns for k in plan.ks]
    runs += [("knockout", max(plan.ns), max(plan.ks))] * plan.headline_repeats
    runs += [("elo", n, k) for n in plan.ns for k in plan.ks]
    rows = []
    for method, n, k in runs:
        sim.reset(Profile(median_s=plan.latency_s, accuracy=0.8, seed=plan.seed))
        texts, _ = draw_candidates(n, rng)
        cpu = time.process_time()  # the simulated judge runs in another process: this is the client's
        result = await METHODS[method](judge, votes=k, seed=plan.seed).aselect(QUERY, texts)
        cpu = time.process_time() - cpu
        server = sim.stats()
        ideal = critical_rounds(method, n) * plan.latency_s
        rows.append({
            "method": method, "n": n, "k": k,
            "wall_s": round(result.usage.wall_time_s, 3), "ideal_s": ideal,
            "ratio": round(result.usage.wall_time_s / ideal, 3),
            "server_requests": server["requests"], "server_votes": server["votes"],
            "client_requests": result.usage.requests, "client_votes": result.usage.votes,
            "tournament_votes": tournament_matches(method, n) * k,
            "peak_in_service": server["peak_in_service"],
            "client_cpu_s": round(cpu, 3),
        })  # fmt: skip
        print(f"  critical path {method} N={n} k={k}: ratio {rows[-1]['ratio']}", file=sys.stderr)
    return rows


# --- client CPU, in-process ----------------------------------------------------------------------


class InstantBackend(Backend):
    """Answers every prompt at once with a canned verdict: what remains is rrm_select's own work."""

    SAMPLE = Sample("Canned.\n</think>\n\n\\boxed{Assistant 1}", None, "stop", 0.0)

    async def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        return [Generation([self.SAMPLE] * p.n) for p in prompts]


async def client_cpu(plan: Plan) -> list[dict[str, Any]]:
    judge = Judge(InstantBackend())
    texts, _ = draw_candidates(max(plan.ns), np.random.default_rng(plan.seed))
    rows = []
    for method in ("knockout", "elo"):
        for k in (min(plan.ks), max(plan.ks)):
            selector = METHODS[method](judge, votes=k, seed=plan.seed)
            await selector.aselect(QUERY, texts)  # warm-up: first calls pay for lazy imports and caches
            spent, usage = [], None
            for _ in range(3):
                cpu = time.process_time()
                usage = (await selector.aselect(QUERY, texts)).usage
                spent.append(time.process_time() - cpu)
            assert usage is not None
            cpu_s = statistics.median(spent)
            rows.append({
                "method": method, "n": len(texts), "k": k, "votes": usage.votes, "requests": usage.requests,
                "cpu_ms_per_vote": round(1000 * cpu_s / usage.votes, 4),
                "cpu_ms_per_request": round(1000 * cpu_s / usage.requests, 4),
            })  # fmt: skip
    return rows


# --- accuracy, calls, adaptive voting and budgets, in-process --------------------------------------


async def simulate(
    method: str,
    n: int,
    k: int,
    p: float,
    selections: int,
    seed: int,
    latency_s: float = 0.0,
    **options: Any,
) -> dict[str, Any]:
    """`selections` selections at once with a Bernoulli(p) `ScriptedJudge`; mean outcomes."""
    rng = np.random.default_rng([seed, n, k, round(100 * p)])
    draws = [draw_candidates(n, rng) for _ in range(selections)]
    judge = ScriptedJudge.by_score(quality_of, accuracy=p, latency_s=latency_s, seed=seed)
    selector = METHODS[method](judge, votes=k, seed=seed, **options)
    results: list[Selection] = await selector.aselect_many([QUERY] * selections, [texts for texts, _ in draws])
    hits = np.array([r.best_index == best for r, (_, best) in zip(results, draws, strict=True)])
    accuracy = float(hits.mean())
    return {
        "accuracy": round(accuracy, 4),
        "stderr": round(math.sqrt(accuracy * (1 - accuracy) / selections), 4),
        "votes": round(statistics.mean(r.usage.votes for r in results), 2),
        "requests": round(statistics.mean(r.usage.requests for r in results), 2),
        "wall_s": round(statistics.mean(r.usage.wall_time_s for r in results), 4),
        "stopped_early": round(statistics.mean(r.stopped_early is not None for r in results), 3),
    }


def model_accuracy(method: str, n: int, k: int, p: float, trials: int, seed: int) -> float | None:
    """The Monte-Carlo model's expectation; None for Swiss rounds (not modelled)."""
    rng = np.random.default_rng([seed, n, k, round(100 * p), 1])
    if method == "swiss":
        return None
    if method == "elo":
        return montecarlo.round_robin_accuracy(n, p, k, trials, rng)
    return montecarlo.knockout_accuracy(n, p, k, trials, rng, finalists=4 if method == "knockout+4" else 1)


async def accuracy(plan: Plan) -> list[dict[str, Any]]:
    rows = []
    for n in plan.accuracy_ns:
        first = n == plan.accuracy_ns[0]
        for method in METHODS if first else ("knockout", "knockout+4", "swiss"):
            for k in plan.ks if first else plan.large_n_ks:
                for p in plan.accuracies:
                    measured = await simulate(method, n, k, p, plan.selections, plan.seed)
                    model = model_accuracy(method, n, k, p, plan.mc_trials, plan.seed)
                    rows.append({"method": method, "n": n, "k": k, "p": p, **measured, "model": model})
        print(f"  accuracy N={n} done", file=sys.stderr)
    return rows


async def adaptive(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """Knockout at N=8: calls saved by voting in waves, and the latency the waves cost."""
    calls = []
    for k in plan.adaptive_ks:
        for p in plan.accuracies:
            for mode in ("off", "decided", "confident"):
                measured = await simulate("knockout", 8, k, p, plan.adaptive_selections, plan.seed, early_stop=mode)
                calls.append({"k": k, "p": p, "early_stop": mode, **measured})
    latency = []
    p = plan.accuracies[len(plan.accuracies) // 2]
    for k in plan.adaptive_ks:
        for mode in ("off", "decided", "confident"):
            timed = await simulate(
                "knockout", 8, k, p, plan.wave_selections, plan.seed, latency_s=plan.wave_latency_s, early_stop=mode
            )
            judge_latencies = round(timed["wall_s"] / plan.wave_latency_s, 2)
            latency.append({"k": k, "p": p, "early_stop": mode, "judge_latencies": judge_latencies})
    return {"calls": calls, "latency": latency}


async def budget(plan: Plan) -> list[dict[str, Any]]:
    p = plan.accuracies[len(plan.accuracies) // 2]
    rows = []
    for method, k in BUDGETED:
        for limit in (*plan.budgets, None):
            measured = await simulate(method, plan.budget_n, k, p, plan.budget_selections, plan.seed, budget=limit)
            rows.append({"method": method, "k": k, "p": p, "n": plan.budget_n, "budget": limit, **measured})
    return rows


# --- hedging, over HTTP ----------------------------------------------------------------------------


async def hedging(plan: Plan, sim: SimJudge) -> list[dict[str, Any]]:
    """Knockout N=8, k=1 selections, `hedge_concurrency` at a time, on a heavy-tailed profile."""
    rng = np.random.default_rng(plan.seed)
    draws = [draw_candidates(8, rng)[0] for _ in range(plan.hedge_selections)]
    rows = []
    for label, policy in (("off", None), ("Hedge()", Hedge())):
        selector = KnockoutSelector(http_judge(sim, hedge=policy), seed=plan.seed)
        sim.reset(plan.hedge_profile)
        await _closed_loop(selector, draws[: plan.hedge_concurrency], plan.hedge_concurrency)  # learn latencies
        sim.reset(plan.hedge_profile)
        results = await _closed_loop(selector, draws, plan.hedge_concurrency)
        server = sim.stats()
        walls = np.array([r.usage.wall_time_s for r in results])
        rows.append({
            "hedge": label, "selections": len(results),
            "p50_s": round(float(np.percentile(walls, 50)), 3), "p90_s": round(float(np.percentile(walls, 90)), 3),
            "p99_s": round(float(np.percentile(walls, 99)), 3), "mean_s": round(float(walls.mean()), 3),
            "ideal_median_s": critical_rounds("knockout", 8) * plan.hedge_profile.median_s,
            "requests_per_selection": round(server["requests"] / len(results), 2),
            "hedges_per_selection": round(sum(r.usage.hedges for r in results) / len(results), 2),
            "latencies_s": [round(float(w), 4) for w in sorted(walls)],
        })  # fmt: skip
    return rows


async def _closed_loop(selector: Selector, draws: list[list[str]], concurrency: int) -> list[Selection]:
    """Every selection in `draws`, at most `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(texts: list[str]) -> Selection:
        async with gate:
            return await selector.aselect(QUERY, texts)

    return list(await asyncio.gather(*(one(texts) for texts in draws)))


# --- the run ---------------------------------------------------------------------------------------


async def run(plan: Plan, only: Sequence[str] = ()) -> dict[str, Any]:
    litellm = import_litellm()  # its import (seconds) stays out of every timing
    litellm.suppress_debug_info = True
    logging.getLogger("LiteLLM").setLevel(logging.ERROR)  # it warns once per request when its pool fills
    figures: dict[str, Any] = {}
    with SimJudge() as sim:
        steps: dict[str, Callable[[], Any]] = {
            "critical_path": lambda: critical_path(plan, sim),
            "hedging": lambda: hedging(plan, sim),
            "client_cpu": lambda: client_cpu(plan),
            "accuracy": lambda: accuracy(plan),
            "adaptive": lambda: adaptive(plan),
            "budget": lambda: budget(plan),
        }
        for name, step in steps.items():
            if only and name not in only:
                continue
            started = time.perf_counter()
            figures[name] = await step()
            print(f"{name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer points, shorter latencies")
    parser.add_argument("--out", type=Path, help="results folder (default: benchmarks/results; --quick: a temp folder)")
    parser.add_argument("--only", action="append", choices=SECTIONS, default=[],
                        help="rerun this section (repeatable) and keep the others from the folder's suite.json")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="runs of the critical-path grid (cells: their median)")
    args = parser.parse_args()
    plan = dataclasses.replace(QUICK if args.quick else Plan(), critical_path_runs=args.repeat)
    out = args.out or (Path(tempfile.mkdtemp(prefix="rrm-suite-")) if args.quick else RESULTS)
    load_before = os.getloadavg()
    started = time.perf_counter()
    figures = asyncio.run(run(plan, args.only))
    meta = {
        "command": "python benchmarks/suite.py" + (" --quick" if args.quick else "")
        + (f" --repeat {args.repeat}" if args.repeat > 1 else ""),
        "runtime_s": round(time.perf_counter() - started, 1),
        "cpus": os.cpu_count(),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "plan": asdict(plan),
    }
    if args.only:  # the last full run stays the report's meta; the rerun is listed under it
        report = json.loads((out / "suite.json").read_text())
        meta["command"] += "".join(f" --only {name}" for name in args.only)
        meta.pop("plan")
        report["meta"]["reruns"] = [*report["meta"].get("reruns", []), meta]
        report.update(figures)
    else:
        report = {"meta": meta, **figures}
    markdown = suite_report.write(report, out)
    print(markdown)
    if not args.quick:
        suite_report.update_readme(README, markdown)
    print(f"wrote {out}/suite.json, suite.md, suite.png in {meta['runtime_s']} s", file=sys.stderr)


if __name__ == "__main__":
    main()
