"""Does `aselect_many` keep an in-process vLLM judge's batch full? Batched versus one query at a time.

    python benchmarks/vllm_batching.py                          # CPU: the packaged tiny judge
    python benchmarks/vllm_batching.py --model Reward-Reasoning/RRM-7B --max-tokens 8192   # GPU

Runs the same knockout selections (Q queries x N candidates, k votes) twice on one engine:
all queries at once with `select_many` (one `LLM.chat` per scheduling step), then one query at
a time. Reports judge batches, mean batch size, matches per second and the speed-up. With the
tiny judge, vLLM's structured outputs force every sample into the same short verdict shape, so
both runs generate comparable amounts of text.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from rrm_select import KnockoutSelector, RRMFormat, Selection, VLLMJudge


def workload(queries: int, n: int) -> tuple[list[str], list[list[str]]]:
    qs = [f"Question {q}: what is {q} + {q + 1}? Answer with the number." for q in range(queries)]
    answers = [
        [f"The answer is {2 * q + 1 + delta}." for delta in range(-(n // 2), n - n // 2)] for q in range(queries)
    ]
    return qs, answers


def run(judge: VLLMJudge, votes: int, qs: list[str], cands: list[list[str]], batched: bool) -> dict[str, float]:
    start_batches = len(judge.batch_sizes)
    selector = KnockoutSelector(judge, votes=votes, order="per_match", seed=0)
    started = time.perf_counter()
    if batched:
        results: list[Selection] = selector.select_many(qs, cands)
    else:
        results = [selector.select(q, c) for q, c in zip(qs, cands, strict=True)]
    wall = time.perf_counter() - started
    batches = judge.batch_sizes[start_batches:]
    matches = sum(len(r.matches) for r in results)
    return {
        "wall_s": round(wall, 2),
        "judge_batches": len(batches),
        "mean_batch_size": round(sum(batches) / len(batches), 2),
        "matches": matches,
        "matches_per_s": round(matches / wall, 2),
        "abstentions": sum(r.usage.abstentions for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model name or path (default: the packaged tiny judge, forced verdicts)")
    parser.add_argument("--queries", type=int, default=64)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--votes", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--out", help="also write the report (JSON) to this file")
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    if args.model is None:
        from rrm_select.tiny_judge import build_tiny_judge

        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        judge = VLLMJudge(
            str(build_tiny_judge()),
            max_tokens=args.max_tokens,
            verdict_regex=RRMFormat().verdict_regex(40),
            max_model_len=2048,
            enforce_eager=True,
            seed=0,
            disable_log_stats=True,
        )
    else:
        judge = VLLMJudge(args.model, max_tokens=args.max_tokens, seed=0, disable_log_stats=True)
    qs, cands = workload(args.queries, args.candidates)
    with judge:
        run(judge, args.votes, qs[:2], cands[:2], batched=True)  # warm-up
        batched = run(judge, args.votes, qs, cands, batched=True)
        sequential = run(judge, args.votes, qs, cands, batched=False)
    report = {
        "workload": f"{args.queries} queries x N={args.candidates}, k={args.votes}, knockout",
        "model": judge.model,
        "batched": batched,
        "one_query_at_a_time": sequential,
        "speedup": round(sequential["wall_s"] / batched["wall_s"], 2),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as out:
            out.write(text + "\n")


if __name__ == "__main__":
    main()
