"""Latency the litellm proxy adds over calling `rrm_select.acompletion` directly, for best-of-4.

    python benchmarks/proxy_latency.py            # the defaults: 20 sequential, 50 concurrent
    python benchmarks/proxy_latency.py --quick    # a smoke check: 5 sequential, 10 concurrent

One loopback server plays the generator (answers after `--gen-latency` s) and the judge (after
`--judge-latency` s, voting for the better candidate). "direct" is `acompletion` in this process
with the settings of examples/litellm_proxy.yaml (knockout, 1 vote); "proxy" is the real litellm
proxy started with that config and called with the openai client. A knockout of 4 takes 2 judge
rounds after generation, so the ideal latency is gen + 2 x judge (1.0 s with the defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
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


async def run(call: Call, args: argparse.Namespace) -> dict[str, float]:
    for i in range(args.warmup):
        await timed(call, -1 - i)
    sequential = [await timed(call, i) for i in range(args.sequential)]
    started = time.perf_counter()
    concurrent = await asyncio.gather(*(timed(call, args.sequential + i) for i in range(args.concurrent)))
    wall = time.perf_counter() - started
    figures = {
        "sequential_median_s": statistics.median(sequential),
        "sequential_p90_s": percentile(sequential, 0.9),
        "concurrent_median_s": statistics.median(concurrent),
        "concurrent_max_s": max(concurrent),
        "concurrent_wall_s": wall,
    }
    return {key: round(value, 3) for key, value in figures.items()}


def ask(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"question {i}"}]


async def measure(server: FakeOpenAIServer, proxy: LiteLLMProxy, args: argparse.Namespace) -> dict[str, Any]:
    selector = KnockoutSelector(LiteLLMJudge("hosted_vllm/judge", api_base=server.api_base, api_key="k"), votes=1)

    async def direct(i: int) -> str | None:
        response = await acompletion(model="hosted_vllm/generator", messages=ask(i), n=4, selector=selector,
                                     api_base=server.api_base, api_key="k")  # fmt: skip
        return response.choices[0].message.content

    async with openai.AsyncOpenAI(base_url=proxy.api_base, api_key=MASTER_KEY, max_retries=0, timeout=120) as client:

        async def proxied(i: int) -> str | None:
            response = await client.chat.completions.create(model="best-of-4", messages=ask(i))  # type: ignore[arg-type]
            return response.choices[0].message.content

        results = {"direct": await run(direct, args), "proxy": await run(proxied, args)}
    results["proxy_minus_direct"] = {k: round(results["proxy"][k] - v, 3) for k, v in results["direct"].items()}
    return results


def table(results: dict[str, Any], ideal: float) -> str:
    rows = [f"| figure (ideal {ideal:.2f} s) | direct | proxy | proxy - direct |", "|---|---:|---:|---:|"]
    for key in results["direct"]:
        name = key.removesuffix("_s").replace("_", " ")
        rows.append(f"| {name} | {results['direct'][key]:.3f} | {results['proxy'][key]:.3f} "
                    f"| {results['proxy_minus_direct'][key]:+.3f} |")  # fmt: skip
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gen-latency", type=float, default=0.5)
    parser.add_argument("--judge-latency", type=float, default=0.25)
    parser.add_argument("--sequential", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="5 sequential and 10 concurrent requests")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    if args.quick:
        args.sequential, args.concurrent = 5, 10
    with FakeOpenAIServer(script(args)) as server:
        env = {"GENERATOR_MODEL": "hosted_vllm/generator", "GENERATOR_API_BASE": server.api_base,
               "GENERATOR_API_KEY": "k", "RRM_SELECT_MODEL": "hosted_vllm/judge",
               "RRM_SELECT_API_BASE": server.api_base, "RRM_API_KEY": "k"}  # fmt: skip
        with LiteLLMProxy(env=env) as proxy:
            results = asyncio.run(measure(server, proxy, args))
    ideal = args.gen_latency + 2 * args.judge_latency
    settings = {key: value for key, value in vars(args).items() if key != "out"}
    report = {"settings": {**settings, "n": 4, "method": "knockout", "votes": 1, "ideal_s": ideal},
              "machine": {"cores": os.cpu_count()}, **results}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results, ideal))


if __name__ == "__main__":
    main()
