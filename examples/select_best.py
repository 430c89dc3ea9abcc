"""Pick the best of several answers with a judge model and show why it won.

    python examples/select_best.py                         # CPU: the packaged tiny judge, in-process vLLM
    python examples/select_best.py --vllm Reward-Reasoning/RRM-7B       # GPU: the real RRM, in-process
    python examples/select_best.py --api-base http://127.0.0.1:8000/v1 \\
        --model hosted_vllm/Reward-Reasoning/RRM-7B        # an RRM behind vLLM's OpenAI server
    python examples/select_best.py --scripted              # no model at all: a scripted stand-in

The tiny judge (SmolLM2-135M from a PyPI package, built once into .cache/tiny-judge) is no
RRM: it runs the whole path for real, with vLLM's structured outputs forcing a well-formed
verdict, but its preferences are close to random.
"""

from __future__ import annotations

import argparse
import os
import re

from rrm_select import EloSelector, Judge, KnockoutSelector, LiteLLMJudge, RRMFormat, ScriptedJudge, Selection

QUERY = "What is the derivative of x^3 * sin(x)?"
CANDIDATES = [
    "3x^2 * sin(x)",
    "By the product rule: 3x^2 sin(x) + x^3 cos(x).",
    "x^3 cos(x)",
    "3x^2 cos(x) + x^3 sin(x)",
    "By the product rule: 3x^2 sin(x) + x^3 cos(x).",  # a duplicate: judged once
    "d/dx[x^3 sin x] = 3x^2 sin x + x^3 cos x",
]


def scripted_judge() -> Judge:
    """A scripted judge that knows the right answer; it shows the mechanics without a model."""
    right = re.compile(r"3x\^2 ?sin ?\(?x\)? \+ x\^3 ?cos ?\(?x\)?")
    return ScriptedJudge.by_score(lambda text: float(bool(right.search(text))) - len(text) / 1000)


def vllm_judge(model: str | None, max_tokens: int) -> Judge:
    from rrm_select import VLLMJudge

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # keep the demo's output readable
    if model is not None:  # a real RRM: let it think
        return VLLMJudge(model, max_tokens=max_tokens)
    from rrm_select.tiny_judge import build_tiny_judge

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    tiny = build_tiny_judge()
    return VLLMJudge(
        str(tiny),
        max_tokens=64,
        verdict_regex=RRMFormat().verdict_regex(80),
        max_model_len=2048,
        enforce_eager=True,
        disable_log_stats=True,
    )


def show(result: Selection) -> None:
    print(f"\nmethod={result.method} seed={result.seed}")
    print(f"winner: candidate {result.best_index}: {result.best!r}")
    print("ranking:", " > ".join(map(str, result.ranking)))
    for match in result.matches:
        print(f"  round {match.round}: {match.a} vs {match.b} -> {match.winner} ({match.decided_by})")
        for vote in match.votes:
            said = f"prefers {vote.winner}" if vote.winner is not None else "no verdict"
            thought = (vote.reasoning or vote.answer).strip().replace("\n", " ")[:70]
            print(f"    vote: {vote.first} shown first, {said}; {vote.completion_tokens} tokens; {thought!r}")
    u = result.usage
    print(
        f"usage: {u.requests} requests, {u.votes} votes ({u.abstentions} abstained), "
        f"{u.prompt_tokens}+{u.completion_tokens} tokens, {u.wall_time_s:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--vllm", metavar="MODEL", help="run this RRM in-process with vLLM (name or local path)")
    source.add_argument("--api-base", help="OpenAI-compatible endpoint serving the RRM")
    source.add_argument("--scripted", action="store_true", help="use a scripted stand-in judge, no model")
    parser.add_argument("--model", default="hosted_vllm/Reward-Reasoning/RRM-7B", help="litellm model for --api-base")
    parser.add_argument("--api-key", default="EMPTY")
    parser.add_argument("--method", choices=["knockout", "elo"], default="knockout")
    parser.add_argument("--votes", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=8192)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.scripted:
        judge = scripted_judge()
    elif args.api_base:
        judge = LiteLLMJudge(args.model, api_base=args.api_base, api_key=args.api_key, max_tokens=args.max_tokens)
    else:
        judge = vllm_judge(args.vllm, args.max_tokens)
    selector_class = KnockoutSelector if args.method == "knockout" else EloSelector
    try:
        show(selector_class(judge, votes=args.votes, seed=args.seed).select(QUERY, CANDIDATES))
    finally:
        judge.close()  # stops an in-process engine's worker processes


if __name__ == "__main__":
    main()
