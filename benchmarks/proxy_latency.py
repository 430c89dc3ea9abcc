"""Latency the litellm proxy adds over calling `rrm_select.acompletion` directly, for best-of-4.

    python benchmarks/proxy_latency.py            # the defaults: 20 sequential, 3 bursts of 50 at once
    python benchmarks/proxy_latency.py --quick    # a smoke check: 5 sequential, 1 burst of 10

One loopback server plays the generator (answers after `--gen-latency` s) and the judge (after
`--judge-latency` s, voting for the better candidate). "direct" is `acompletion` in this process
with the settings of examples/litellm_proxy.yaml (knockout, 1 vote); "proxy" is the real litellm
proxy started with that config and called with the openai client. A knockout of 4 takes 2 judge
rounds after generation, so the ideal latency is gen + 2 x judge (1.0 s with the defaults).
With 50 at once the judge's default `max_concurrency` (64 requests in flight) splits the first
round's 100 judge calls into two waves, so there the ideal is gen + 3 x judge (1.25 s).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import openai
from fake_openai import Choice, FakeOpenAIServer, Reply
from proxy_support import MASTER_KEY, LiteLLMProxy
from test_wrappers import QUALITIES, is_judge, make_script

from rrm_select import KnockoutSelector, LiteLLMJudge, acompletion

RESULT = Path(__file__).resolve().parent / "results" / "proxy_latency.json"
BEST = f"answer with quality {max(QUALITIES[:4])}"
Call = Callable[[int], Awaitable[str | None]]
JUDGE_LIMIT = 64  # LiteLLMJudge's default max_concurrency, in the proxy as here


def script(args: argparse.Namespace) -> Callable[[dict[str, Any]], Reply]:
    judge = make_script()

    def answer(body: dict[str, Any]) -> Reply:
        if is_judge(body):
            return dataclasses.replace(judge(body), delay_s=args.judge_latency)
        choices = [Choice(f"answer with quality {QUALITIES[i % len(QUALITIES)]}") for i in range(body["n"])]
        return Reply(choices=choices, delay_s=args.gen_latency)

    return answer


async def timed(call: Call, i: int) -> float:
    started = time.perf_counter()
    content = await call(i)
    assert content == BEST, content  # the judge's pick made it through
    return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def burst(call: Call, server: FakeOpenAIServer, args: argparse.Namespace, first: int) -> dict[str, float]:
    server.max_in_flight = 0
    started = time.perf_counter()
    latencies = await asyncio.gather(*(timed(call, first + i) for i in range(args.concurrent)))
    return {"concurrent_median_s": statistics.median(latencies), "concurrent_max_s": max(latencies),
            "concurrent_wall_s": time.perf_counter() - started,
            "concurrent_max_in_flight": server.max_in_flight}  # at the loopback server  # fmt: skip


async def run(call: Call, server: FakeOpenAIServer, args: argparse.Namespace) -> dict[str, float]:
    for i in range(args.warmup):
        await timed(call, -1 - i)
    sequential = [await timed(call, i) for i in range(args.sequential)]
    bursts = [await burst(call, server, args, args.sequential + b * args.concurrent) for b in range(args.bursts)]
    figures = {"sequential_median_s": statistics.median(sequential), "sequential_p90_s": percentile(sequential, 0.9),
               **{key: statistics.median(b[key] for b in bursts) for key in bursts[0]}}  # fmt: skip
    return {key: round(value, 3) for key, value in figures.items()}


def ask(i: int) -> list[Any]:  # chat messages, for litellm and the openai client alike
    return [{"role": "user", "content": f"question {i}"}]


async def measure(server: FakeOpenAIServer, proxy: LiteLLMProxy, args: argparse.Namespace) -> dict[str, Any]:
    selector = KnockoutSelector(LiteLLMJudge("hosted_vllm/judge", api_base=server.api_base, api_key="k"), votes=1)

    async def direct(i: int) -> str | None:
        response = await acompletion(model="hosted_vllm/generator", messages=ask(i), n=4, selector=selector,
                                     api_base=server.api_base, api_key="k")  # fmt: skip
        return response.choices[0].message.content

    async with openai.AsyncOpenAI(base_url=proxy.api_base, api_key=MASTER_KEY, max_retries=0, timeout=120) as client:

        async def proxied(i: int) -> str | None:
            response = await client.chat.completions.create(model="best-of-4", messages=ask(i))
            return response.choices[0].message.content

        results = {"direct": await run(direct, server, args), "proxy": await run(proxied, server, args)}
    results["proxy_minus_direct"] = {k: round(results["proxy"][k] - v, 3) for k, v in results["direct"].items()}
    return results


def table(results: dict[str, Any]) -> str:
    rows = ["| figure | direct | proxy | proxy - direct |", "|---|---:|---:|---:|"]
    for key in results["direct"]:
        name = key.removesuffix("_s").replace("_", " ")
        rows.append(f"| {name} | {results['direct'][key]:g} | {results['proxy'][key]:g} "
                    f"| {results['proxy_minus_direct'][key]:+g} |")  # fmt: skip
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gen-latency", type=float, default=0.5)
    parser.add_argument("--judge-latency", type=float, default=0.25)
    parser.add_argument("--sequential", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--bursts", type=int, default=3, help="concurrent bursts; each figure is their median")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="5 sequential requests, 1 burst of 10")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    if args.quick:
        args.sequential, args.concurrent, args.bursts = 5, 10, 1
    with FakeOpenAIServer(script(args)) as server:
        env = {"GENERATOR_MODEL": "hosted_vllm/generator", "GENERATOR_API_BASE": server.api_base,
               "GENERATOR_API_KEY": "k", "RRM_SELECT_MODEL": "hosted_vllm/judge",
               "RRM_SELECT_API_BASE": server.api_base, "RRM_API_KEY": "k"}  # fmt: skip
        with LiteLLMProxy(env=env) as proxy:
            results = asyncio.run(measure(server, proxy, args))
    waves = math.ceil(2 * args.concurrent / JUDGE_LIMIT) + math.ceil(args.concurrent / JUDGE_LIMIT)
    ideal = {"ideal_sequential_s": args.gen_latency + 2 * args.judge_latency,
             "ideal_concurrent_s": args.gen_latency + waves * args.judge_latency}  # fmt: skip
    settings = {key: value for key, value in vars(args).items() if key != "out"}
    report = {"settings": {**settings, "n": 4, "method": "knockout", "votes": 1, **ideal},
              "machine": {"cores": os.cpu_count()}, **results}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"ideal: {ideal['ideal_sequential_s']:g} s sequential, {ideal['ideal_concurrent_s']:g} s concurrent")
    print(table(results))


if __name__ == "__main__":
    main()
