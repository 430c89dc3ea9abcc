"""Latency that best-of-n adds to a plain chat call, against loopback generator and judge servers.

    python benchmarks/wrapper_latency.py

The generator answers after `--gen-latency` seconds, the judge after `--judge-latency`. A
knockout over n candidates needs ceil(log2 n) judge rounds after generation, so the ideal added
latency is rounds x judge latency; the report gives the measured median next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from fake_openai import Choice, FakeOpenAIServer, Reply, rrm_choice

from rrm_select import KnockoutSelector, LiteLLMJudge, acompletion

MESSAGES = [{"role": "user", "content": "Say something."}]


async def timed(call: Any) -> float:
    started = time.perf_counter()
    await call
    return time.perf_counter() - started


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    import litellm

    def generator(body: dict[str, Any]) -> Reply:
        return Reply(choices=[Choice(f"answer {i}") for i in range(body.get("n", 1))], delay_s=args.gen_latency)

    def judge(body: dict[str, Any]) -> Reply:
        return Reply(choices=[rrm_choice(1)] * body.get("n", 1), delay_s=args.judge_latency)

    rows = []
    with FakeOpenAIServer(generator) as gen, FakeOpenAIServer(judge) as jud:
        gen_args = {"model": "hosted_vllm/gen", "api_base": gen.api_base, "api_key": "k"}
        selector = KnockoutSelector(LiteLLMJudge("hosted_vllm/judge", api_base=jud.api_base, api_key="k"), seed=0)
        await acompletion(messages=MESSAGES, n=2, selector=selector, **gen_args)  # warm-up (imports, clients)
        for n in args.n:
            plain = [await timed(litellm.acompletion(messages=MESSAGES, n=n, **gen_args)) for _ in range(args.repeats)]
            best = [
                await timed(acompletion(messages=MESSAGES, n=n, selector=selector, **gen_args))
                for _ in range(args.repeats)
            ]
            rounds = math.ceil(math.log2(n))
            added = statistics.median(best) - statistics.median(plain)
            rows.append({
                "n": n,
                "plain_median_s": round(statistics.median(plain), 3),
                "best_of_n_median_s": round(statistics.median(best), 3),
                "added_s": round(added, 3),
                "ideal_added_s": round(rounds * args.judge_latency, 3),
                "overhead_over_ideal_s": round(added - rounds * args.judge_latency, 3),
            })  # fmt: skip
    return {"gen_latency_s": args.gen_latency, "judge_latency_s": args.judge_latency, "runs": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gen-latency", type=float, default=0.5)
    parser.add_argument("--judge-latency", type=float, default=0.25)
    parser.add_argument("--n", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--repeats", type=int, default=5)
    print(json.dumps(asyncio.run(measure(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
