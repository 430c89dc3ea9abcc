"""A chatbot turn that returns the best of n answers, chosen by an RRM judge.

    python examples/chatbot.py --api-base http://127.0.0.1:8000/v1 --model hosted_vllm/Qwen2.5-7B-Instruct \\
        --judge-api-base http://127.0.0.1:8001/v1 --judge-model hosted_vllm/Reward-Reasoning/RRM-7B

`rrm_select.completion` takes litellm's arguments plus `n` and a judge, and returns a normal
litellm response whose single choice is the winner; the trace is `selection_of(response)`.
"""

from __future__ import annotations

import argparse
import os

from rrm_select import KnockoutSelector, LiteLLMJudge, RRMFormat, completion, generation_usage_of, selection_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-base", required=True, help="the generator's OpenAI-compatible endpoint")
    parser.add_argument("--model", required=True, help="the generator, as a litellm model name")
    parser.add_argument("--judge-api-base", help="the judge's endpoint (default: the generator's)")
    parser.add_argument("--judge-model", default="hosted_vllm/Reward-Reasoning/RRM-7B")
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=512, help="per candidate")
    parser.add_argument("--judge-max-tokens", type=int, default=8192)
    parser.add_argument("--force-verdict", type=int, metavar="CHARS", help="weak judges: force a verdict (vLLM)")
    parser.add_argument("--question", default="Give me one tip for writing clear code.")
    args = parser.parse_args()

    key = os.environ.get("RRM_API_KEY", "EMPTY")
    judge = LiteLLMJudge(
        args.judge_model,
        api_base=args.judge_api_base or args.api_base,
        api_key=key,
        max_tokens=args.judge_max_tokens,
        verdict_regex=RRMFormat().verdict_regex(args.force_verdict) if args.force_verdict else None,
    )
    history = [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": args.question},
    ]
    response = completion(
        model=args.model,
        api_base=args.api_base,
        api_key=key,
        messages=history,
        n=args.n,
        max_tokens=args.max_tokens,
        selector=KnockoutSelector(judge, seed=0),
    )
    selection = selection_of(response)
    print(f"assistant (best of {args.n}): {response.choices[0].message.content.strip()}")
    print(f"chosen candidate: {selection.best_index}; ranking: {list(selection.ranking)}")
    for match in selection.matches:
        print(f"  round {match.round}: {match.a} vs {match.b} -> {match.winner} ({match.decided_by})")
    gen = generation_usage_of(response)
    print(
        f"tokens: generation {gen.prompt_tokens}+{gen.completion_tokens}, judging "
        f"{selection.usage.prompt_tokens}+{selection.usage.completion_tokens}, total {response.usage.total_tokens}"
    )


if __name__ == "__main__":
    main()
