"""Pick the best of several answers with an RRM judge and show why it won.

    python examples/select_best.py                       # offline demo: scripted stand-in judge
    python examples/select_best.py --api-base http://127.0.0.1:8000/v1 \
        --model hosted_vllm/Reward-Reasoning/RRM-7B      # a real RRM behind vLLM's server
"""

from __future__ import annotations

import argparse
import re

from rrm_select import EloSelector, Judge, KnockoutSelector, LiteLLMJudge, ScriptedJudge, Selection

QUERY = "What is the derivative of x^3 * sin(x)?"
CANDIDATES = [
    "3x^2 * sin(x)",
    "By the product rule: 3x^2 sin(x) + x^3 cos(x).",
    "x^3 cos(x)",
    "3x^2 cos(x) + x^3 sin(x)",
    "By the product rule: 3x^2 sin(x) + x^3 cos(x).",  # a duplicate: judged once
    "d/dx[x^3 sin x] = 3x^2 sin x + x^3 cos x",
]


def stand_in_judge() -> Judge:
    """A scripted judge that knows the right answer; it shows the mechanics without a model."""
    right = re.compile(r"3x\^2 ?sin ?\(?x\)? \+ x\^3 ?cos ?\(?x\)?")
    return ScriptedJudge.by_score(lambda text: float(bool(right.search(text))) - len(text) / 1000)


def show(result: Selection) -> None:
    print(f"method={result.method} seed={result.seed}")
    print(f"best: candidate {result.best_index}: {result.best!r}")
    print("ranking:", " > ".join(map(str, result.ranking)))
    for match in result.matches:
        verdicts = ", ".join(
            f"[{v.first} shown first] -> {v.winner if v.winner is not None else 'abstained'}" for v in match.votes
        )
        print(f"  round {match.round}: {match.a} vs {match.b} -> {match.winner} ({match.decided_by}; {verdicts})")
    u = result.usage
    print(
        f"usage: {u.requests} requests, {u.votes} votes, {u.prompt_tokens}+{u.completion_tokens} tokens, "
        f"{u.wall_time_s:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-base", help="OpenAI-compatible endpoint serving the RRM")
    parser.add_argument("--model", default="hosted_vllm/Reward-Reasoning/RRM-7B")
    parser.add_argument("--api-key", default="EMPTY")
    parser.add_argument("--method", choices=["knockout", "elo"], default="knockout")
    parser.add_argument("--votes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    judge = (
        LiteLLMJudge(args.model, api_base=args.api_base, api_key=args.api_key) if args.api_base else stand_in_judge()
    )
    selector_class = KnockoutSelector if args.method == "knockout" else EloSelector
    show(selector_class(judge, votes=args.votes, seed=args.seed).select(QUERY, CANDIDATES))


if __name__ == "__main__":
    main()
