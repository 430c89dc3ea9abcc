"""Filter a small dataset with a judge behind an endpoint: the best answer per prompt, resumable.

    python examples/filter_dataset.py --api-base http://127.0.0.1:8000/v1 \\
        --judge-model hosted_vllm/Reward-Reasoning/RRM-7B --output best.jsonl

The same as `rrm-select filter examples/data/prompts.jsonl -o best.jsonl --model ... --api-base ...`;
rerun it after an interruption and it continues where it stopped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rrm_select.cli import main as rrm_select

DATA = Path(__file__).parent / "data" / "prompts.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-base", required=True)
    parser.add_argument("--judge-model", default="hosted_vllm/Reward-Reasoning/RRM-7B")
    parser.add_argument("--output", default="best.jsonl")
    parser.add_argument("--force-verdict", type=int, metavar="CHARS", help="weak judges: force a verdict (vLLM)")
    parser.add_argument("--max-tokens", type=int, default=8192)
    args = parser.parse_args()
    argv = ["filter", str(DATA), "-o", args.output, "--model", args.judge_model, "--api-base", args.api_base,
            "--max-tokens", str(args.max_tokens), "--votes", "3"]  # fmt: skip
    if args.force_verdict:
        argv += ["--force-verdict", str(args.force_verdict)]
    code = rrm_select(argv)
    if code == 0:
        print(Path(args.output).read_text(), end="")
    return code


if __name__ == "__main__":
    sys.exit(main())
