"""The client's share of a selection: `LiteLLMJudge` against `HTTPJudge` on the same server.

    python benchmarks/http_client.py      # about a minute

The simulated judge (benchmarks/sim_judge.py, its own process) answers every request after a
fixed 2 s with no capacity limit, so a selection could finish in its critical path: one judge
latency for a round robin, ceil(log2 N) for a knockout. What it takes beyond that is the client.
For each judge and each tournament this reports the wall time over that ideal and the client's
CPU time per request (litellm, aiohttp, rrm_select and the event loop together). Writes
benchmarks/results/http_client.{json,md}.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from sim_judge import Profile, SimJudge
from suite import METHODS, QUERY, critical_rounds, draw_candidates, http_judge

from rrm_select import HTTPJudge, Judge
from rrm_select.judges.litellm_transport import import_litellm

RESULTS = Path(__file__).resolve().parent / "results"
LATENCY_S = 2.0
RUNS = [("elo", 16, 1), ("elo", 32, 1), ("elo", 64, 1), ("elo", 64, 3), ("knockout", 64, 5)]


def judges(sim: SimJudge) -> dict[str, Judge]:
    return {
        "LiteLLMJudge": http_judge(sim),
        "HTTPJudge": HTTPJudge("sim-rrm", api_base=sim.api_base, max_concurrency=100_000, max_tokens=64),
    }


async def run() -> list[dict[str, Any]]:
    litellm = import_litellm()  # its import (seconds) stays out of every timing
    litellm.suppress_debug_info = True
    logging.getLogger("LiteLLM").setLevel(logging.ERROR)
    rows = []
    rng = np.random.default_rng(0)
    with SimJudge() as sim:
        for name, judge in judges(sim).items():
            sim.reset(Profile(median_s=0.05))
            await METHODS["knockout"](judge, seed=0).aselect(QUERY, draw_candidates(8, rng)[0])  # warm-up
            for method, n, k in RUNS:
                sim.reset(Profile(median_s=LATENCY_S, accuracy=0.8))
                texts, _ = draw_candidates(n, rng)
                cpu = time.process_time()
                result = await METHODS[method](judge, votes=k, seed=0).aselect(QUERY, texts)
                cpu = time.process_time() - cpu
                ideal = critical_rounds(method, n) * LATENCY_S
                rows.append({
                    "judge": name, "method": method, "n": n, "k": k, "requests": result.usage.requests,
                    "wall_s": round(result.usage.wall_time_s, 2), "ratio": round(result.usage.wall_time_s / ideal, 2),
                    "cpu_ms_per_request": round(1000 * cpu / result.usage.requests, 2),
                })  # fmt: skip
                print(rows[-1], flush=True)
                await asyncio.sleep(2)  # let the last run's closed connections settle before timing the next
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"`python benchmarks/http_client.py`: one simulated judge, {LATENCY_S:.0f} s a request, no capacity limit.",
        "",
        "| tournament | requests | LiteLLMJudge: wall / ideal | CPU ms / request | HTTPJudge: wall / ideal | CPU ms / request |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for method, n, k in RUNS:
        lit, raw = (next(r for r in rows if r["judge"] == j and (r["method"], r["n"], r["k"]) == (method, n, k))
                    for j in ("LiteLLMJudge", "HTTPJudge"))  # fmt: skip
        lines.append(
            f"| {method} N={n} k={k} | {raw['requests']} | {lit['ratio']} | {lit['cpu_ms_per_request']} "
            f"| {raw['ratio']} | {raw['cpu_ms_per_request']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    rows = asyncio.run(run())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "http_client.json").write_text(json.dumps(rows, indent=1) + "\n")
    markdown = table(rows)
    (RESULTS / "http_client.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
