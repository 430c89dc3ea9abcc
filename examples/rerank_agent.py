"""Rerank an agent's candidate trajectories with an RRM judge and keep the best two.

    python examples/rerank_agent.py --api-base http://127.0.0.1:8000/v1 \\
        --judge-model hosted_vllm/Reward-Reasoning/RRM-7B

Items can be anything (here pydantic models); `text=` says what the judge reads of each.
"""

from __future__ import annotations

import argparse
import os

from pydantic import BaseModel

from rrm_select import EloSelector, LiteLLMJudge, RRMFormat, rerank


class Trajectory(BaseModel):
    steps: list[str]
    answer: str


TASK = "Find the population of the capital of Japan and report it in millions."
TRAJECTORIES = [
    Trajectory(steps=["search('capital of Japan')", "search('Tokyo population')"], answer="About 14 million."),
    Trajectory(steps=["search('Japan population')"], answer="About 125 million."),
    Trajectory(steps=["search('capital of Japan')"], answer="Kyoto, about 1.5 million."),
    Trajectory(steps=["search('Tokyo population 2024')", "calculator(14.1)"], answer="Tokyo has about 14.1 million."),
]


def as_text(trajectory: Trajectory) -> str:
    steps = "\n".join(f"{i}. {step}" for i, step in enumerate(trajectory.steps, 1))
    return f"Steps:\n{steps}\n\nFinal answer: {trajectory.answer}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-base", required=True, help="the judge's OpenAI-compatible endpoint")
    parser.add_argument("--judge-model", default="hosted_vllm/Reward-Reasoning/RRM-7B")
    parser.add_argument("--max-tokens", type=int, default=8192)
    parser.add_argument("--force-verdict", type=int, metavar="CHARS", help="weak judges: force a verdict (vLLM)")
    args = parser.parse_args()

    judge = LiteLLMJudge(
        args.judge_model,
        api_base=args.api_base,
        api_key=os.environ.get("RRM_API_KEY", "EMPTY"),
        max_tokens=args.max_tokens,
        verdict_regex=RRMFormat().verdict_regex(args.force_verdict) if args.force_verdict else None,
    )
    ranked = rerank(TASK, TRAJECTORIES, selector=EloSelector(judge, seed=0), text=as_text, top_k=2)
    for place, (item, score, index) in enumerate(zip(ranked.items, ranked.scores, ranked.indices, strict=True), 1):
        print(f"#{place}: trajectory {index} (rating {score:.0f}): {item.answer}")
    print(f"{len(ranked.selection.matches)} matches, {ranked.selection.usage.votes} votes")


if __name__ == "__main__":
    main()
