"""Throughput over a fleet of judge servers: 1, 2, 3 and 4 loopback servers, each able to run
only a few requests at once with a fixed latency (as a GPU server at its batch limit is), behind
one `LiteLLMJudge(api_base=[...])`.

    python benchmarks/fleet_scale.py      # 40 queries x N=8, knockout, k=1 (280 requests per run)

Each server is the test suite's fake OpenAI-compatible server in its own process; requests past
its capacity wait in the server, as they would in vLLM's queue. The judge's limit per server
equals that capacity. Writes benchmarks/results/fleet_scale.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fake_openai import FakeOpenAIServer, Reply, rrm_choice

RESULTS = Path(__file__).resolve().parent / "results" / "fleet_scale.json"


def _serve(capacity: int, latency_s: float, port_out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    slots = threading.Semaphore(capacity)

    def busy(body: dict[str, Any]) -> Reply:
        with slots:  # past its capacity a request waits here, as in a server's queue
            time.sleep(latency_s)
        return Reply(choices=[rrm_choice(1)] * body.get("n", 1))

    with FakeOpenAIServer(busy) as server:
        port_out.put(server.api_base)
        while True:
            time.sleep(3600)


def run(api_bases: list[str], capacity: int, queries: int, candidates: int, fleet: bool) -> dict[str, Any]:
    from rrm_select import KnockoutSelector, LiteLLMJudge

    api_base: str | list[str] = api_bases if fleet else api_bases[0]
    judge = LiteLLMJudge("hosted_vllm/judge", api_base=api_base, api_key="k", max_concurrency=capacity)
    selector = KnockoutSelector(judge, seed=0)
    texts = [[f"answer {j} to question {i}" for j in range(candidates)] for i in range(queries)]
    selector.select_many(["warm-up"], [["a", "b"]])  # litellm's first call imports and builds clients
    started = time.perf_counter()
    results = selector.select_many([f"question {i}" for i in range(queries)], texts)
    wall = time.perf_counter() - started
    requests = sum(r.usage.requests for r in results)
    return {"servers": len(api_bases), "path": "fleet (Router)" if fleet else "single api_base",
            "requests": requests, "wall_s": round(wall, 2), "requests_per_s": round(requests / wall, 1),
            "ideal_requests_per_s": None}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--capacity", type=int, default=4, help="requests one server runs at once")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per request on a server")
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--candidates", type=int, default=8)
    args = parser.parse_args()
    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    processes = [
        multiprocessing.Process(target=_serve, args=(args.capacity, args.latency, ports), daemon=True)
        for _ in range(max(args.servers))
    ]
    for process in processes:
        process.start()
    api_bases = [ports.get(timeout=30) for _ in processes]
    try:
        runs = [run(api_bases[:1], args.capacity, args.queries, args.candidates, fleet=False)]
        runs += [run(api_bases[:k], args.capacity, args.queries, args.candidates, fleet=True) for k in args.servers]
    finally:
        for process in processes:
            process.terminate()
    for entry in runs:
        entry["ideal_requests_per_s"] = round(entry["servers"] * args.capacity / args.latency, 1)
    report = {
        "workload": f"{args.queries} queries x N={args.candidates}, knockout, k=1; each server runs "
        f"{args.capacity} requests at once, {args.latency} s each",
        "runs": runs,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
