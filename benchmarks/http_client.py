"""The client's share of a selection: `LiteLLMJudge` against `HTTPJudge` on the same server, and
`HTTPJudge` against the floor, a bare asyncio client sending the same requests.

    python benchmarks/http_client.py                          # every section, about a minute
    python benchmarks/http_client.py --only floor --repeat 5  # the floor alone, medians of 5 (a minute)

The simulated judge (benchmarks/sim_judge.py, its own process) answers every request after a
fixed latency with no capacity limit, so a selection could finish in its critical path: one judge
latency for a round robin, ceil(log2 N) for a knockout. What it takes beyond that is the client.

- tournaments: for each judge and each tournament (2 s a request), the wall time over that ideal
  and the client's CPU time per request (litellm, aiohttp, rrm_select and the event loop together).
- floor (issue 12): 200 independent pairs at 0.2 s a request. The floor posts the 200
  chat-completions bodies the judge would send (one per pair, rendered by `RRMFormat`) all at once
  through one pooled `aiohttp.ClientSession` with an unlimited connector, and parses the JSON: the
  least any client can do. Its session lives through the section, so after the warm-up its runs
  reuse open connections; a second bare client opens a fresh session each run (200 TCP connects),
  which shows how much of the gap is connection setup. `HTTPJudge` gets the same pairs as
  `select_many` of 2-candidate knockouts, one vote each. Reported: wall time, client CPU ms per
  request (time.process_time: the server is another process), and each wall over the floor's,
  paired per repeat (the runs of a repeat follow each other).

With --repeat R each measurement runs R times and the report gives the median with the min and
max. Writes benchmarks/results/http_client.{json,md}; with --only, the other section's figures
are kept from the last run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sim_judge import Profile, SimJudge
from suite import METHODS, QUERY, critical_rounds, draw_candidates, http_judge

from rrm_select import HTTPJudge, Judge, KnockoutSelector, RRMFormat
from rrm_select.judges.litellm_transport import import_litellm

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("tournaments", "floor")
LATENCY_S = 2.0
RUNS = [("elo", 16, 1), ("elo", 32, 1), ("elo", 64, 1), ("elo", 64, 3), ("knockout", 64, 5)]
FLOOR_PAIRS = 200
FLOOR_LATENCY_S = 0.2
MODEL = "sim-rrm"
MAX_TOKENS = 64
FLOOR_CLIENTS = {
    "bare": "floor: bare aiohttp, one pooled session (warm), every post at once",
    "bare_fresh_session": f"bare aiohttp, a fresh session ({FLOOR_PAIRS} new connections) each run",
    "HTTPJudge": "HTTPJudge: `select_many` of 2-candidate knockouts, 1 vote",
}
UNLIMITED = 100_000
"""max_concurrency for "no limit": far above any number of requests sent here."""


def spread(values: Sequence[float], digits: int = 2) -> dict[str, float]:
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits)}  # fmt: skip


def judges(sim: SimJudge) -> dict[str, Judge]:
    return {
        "LiteLLMJudge": http_judge(sim),
        "HTTPJudge": HTTPJudge(MODEL, api_base=sim.api_base, max_concurrency=UNLIMITED, max_tokens=MAX_TOKENS),
    }


async def tournaments(sim: SimJudge, repeat: int) -> list[dict[str, Any]]:
    rows = []
    rng = np.random.default_rng(0)
    for name, judge in judges(sim).items():
        sim.reset(Profile(median_s=0.05))
        await METHODS["knockout"](judge, seed=0).aselect(QUERY, draw_candidates(8, rng)[0])  # warm-up
        for method, n, k in RUNS:
            walls, ratios, cpus, requests = [], [], [], 0
            for _ in range(repeat):
                sim.reset(Profile(median_s=LATENCY_S, accuracy=0.8))
                texts, _ = draw_candidates(n, rng)
                cpu = time.process_time()
                result = await METHODS[method](judge, votes=k, seed=0).aselect(QUERY, texts)
                cpu = time.process_time() - cpu
                requests = result.usage.requests
                walls.append(result.usage.wall_time_s)
                ratios.append(result.usage.wall_time_s / (critical_rounds(method, n) * LATENCY_S))
                cpus.append(1000 * cpu / requests)
                await asyncio.sleep(2)  # let the last run's closed connections settle before timing the next
            rows.append({
                "judge": name, "method": method, "n": n, "k": k, "requests": requests, "runs": repeat,
                "wall_s": spread(walls), "ratio": spread(ratios), "cpu_ms_per_request": spread(cpus),
            })  # fmt: skip
            print(rows[-1], flush=True)
    return rows


def floor_bodies(pairs: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
    """What `HTTPJudge` posts for one vote on each pair, with the sampling it is given here."""
    render = RRMFormat().render
    return [
        {"model": MODEL, "messages": render(QUERY, a, b), "n": 1, "temperature": 0.6, "top_p": 1.0,
         "max_tokens": MAX_TOKENS}
        for a, b in pairs
    ]  # fmt: skip


async def bare_client(session: Any, url: str, bodies: Sequence[dict[str, Any]]) -> int:
    """Post every body at once over `session`; the number of choices received."""

    async def post(body: dict[str, Any]) -> dict[str, Any]:
        async with session.post(url, json=body) as response:
            response.raise_for_status()
            return await response.json()

    replies = await asyncio.gather(*(post(body) for body in bodies))
    return sum(len(reply["choices"]) for reply in replies)


async def floor(sim: SimJudge, repeat: int) -> dict[str, Any]:
    import aiohttp

    rng = np.random.default_rng(12)
    pairs = [draw_candidates(2, rng)[0] for _ in range(FLOOR_PAIRS)]
    bodies = floor_bodies(pairs)
    url = f"{sim.api_base}/chat/completions"
    selector = KnockoutSelector(
        HTTPJudge(MODEL, api_base=sim.api_base, max_concurrency=UNLIMITED, max_tokens=MAX_TOKENS), votes=1, seed=0
    )

    async def fresh_session() -> int:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            return await bare_client(session, url, bodies)

    async def judge() -> int:
        results = await selector.aselect_many([QUERY] * len(pairs), pairs)
        return sum(r.usage.requests for r in results)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as pooled:
        clients = {"bare": lambda: bare_client(pooled, url, bodies), "bare_fresh_session": fresh_session,
                   "HTTPJudge": judge}  # fmt: skip
        sim.reset(Profile(median_s=0.01))
        for client in clients.values():  # warm-up: lazy imports, first-call caches, the pool's 200 connections
            await client()
        walls: dict[str, list[float]] = {name: [] for name in clients}
        cpus: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(repeat):
            for name, client in clients.items():  # interleaved: a drift in the machine's load hits all alike
                sim.reset(Profile(median_s=FLOOR_LATENCY_S))
                wall, cpu = time.perf_counter(), time.process_time()
                received = await client()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                served = sim.stats()["requests"]
                assert received == served == FLOOR_PAIRS, f"{name}: {received} answers, {served} requests served"
                walls[name].append(wall)
                cpus[name].append(1000 * cpu / served)
                await asyncio.sleep(1)  # let closed connections settle (well inside the pool's 15 s keep-alive)
    figures: dict[str, Any] = {"pairs": FLOOR_PAIRS, "latency_s": FLOOR_LATENCY_S, "runs": repeat}
    for name in clients:
        figures[name] = {"wall_s": spread(walls[name], 3), "cpu_ms_per_request": spread(cpus[name]),
                         "ratio": spread([w / b for w, b in zip(walls[name], walls["bare"], strict=True)])}  # fmt: skip
    print(figures, flush=True)
    return figures


async def run(only: Sequence[str], repeat: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    if not only or "tournaments" in only:
        litellm = import_litellm()  # its import (seconds) stays out of every timing
        litellm.suppress_debug_info = True
        logging.getLogger("LiteLLM").setLevel(logging.ERROR)
    with SimJudge() as sim:
        if not only or "tournaments" in only:
            figures["tournaments"] = await tournaments(sim, repeat)
        if not only or "floor" in only:
            figures["floor"] = await floor(sim, repeat)
    return figures


def cell(value: float | dict[str, float]) -> str:
    """A figure, or a median with its range over the repeats (older results hold single runs)."""
    if not isinstance(value, dict):
        return str(value)
    if value["min"] == value["max"]:
        return str(value["median"])
    return f"{value['median']} ({value['min']}–{value['max']})"


def of_runs(runs: int) -> str:
    return "one run" if runs == 1 else f"median (min–max) of {runs} runs"


def table(figures: dict[str, Any]) -> str:
    lines = []
    rows = figures.get("tournaments", [])
    if rows:
        runs = rows[0].get("runs", 1)
        lines += [
            f"`python benchmarks/http_client.py`: one simulated judge, {LATENCY_S:.0f} s a request, no capacity "
            f"limit; {of_runs(runs)}.",
            "",
            "| tournament | requests | LiteLLMJudge: wall / ideal | CPU ms / request | HTTPJudge: wall / ideal | CPU ms / request |",
            "| --- | --- | --- | --- | --- | --- |",
        ]  # fmt: skip
        for method, n, k in RUNS:
            lit, raw = (next(r for r in rows if r["judge"] == j and (r["method"], r["n"], r["k"]) == (method, n, k))
                        for j in ("LiteLLMJudge", "HTTPJudge"))  # fmt: skip
            lines.append(
                f"| {method} N={n} k={k} | {raw['requests']} | {cell(lit['ratio'])} "
                f"| {cell(lit['cpu_ms_per_request'])} | {cell(raw['ratio'])} | {cell(raw['cpu_ms_per_request'])} |"
            )
    f = figures.get("floor")
    if f:
        lines += [""] if lines else []
        lines += [
            f"`python benchmarks/http_client.py --only floor --repeat {f['runs']}`: {f['pairs']} independent pairs, "
            f"one simulated judge, {f['latency_s']} s a request, no capacity limit; {of_runs(f['runs'])}, the clients "
            "interleaved.",
            "",
            "| client | wall s | CPU ms / request | wall / floor |",
            "| --- | --- | --- | --- |",
        ]
        for name, label in FLOOR_CLIENTS.items():
            c = f[name]
            lines.append(f"| {label} | {cell(c['wall_s'])} | {cell(c['cpu_ms_per_request'])} | {cell(c['ratio'])} |")
    return "\n".join(lines) + "\n"


def load_previous() -> dict[str, Any]:
    path = RESULTS / "http_client.json"
    if not path.exists():
        return {}
    previous = json.loads(path.read_text())
    return {"tournaments": previous} if isinstance(previous, list) else previous  # a list: before the floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=SECTIONS, default=[],
                        help="run this section alone and keep the other's last figures (repeatable)")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the report gives the median")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    figures = {**(load_previous() if args.only else {}), **asyncio.run(run(args.only, args.repeat))}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "http_client.json").write_text(json.dumps(figures, indent=1) + "\n")
    markdown = table(figures)
    (RESULTS / "http_client.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
