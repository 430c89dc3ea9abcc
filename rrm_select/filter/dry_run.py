"""`rrm-select filter --dry-run`: what a run would ask of the judge, without asking it."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from typing import Any

from rrm_select import BadRow
from rrm_select.filter.dataset import Fields, check_row
from rrm_select.formats import RRMFormat, keep_ends

CHARS_PER_TOKEN = 4  # a rough average for English text and code; the real count is the tokenizer's


def estimate(rows: Iterable[dict[str, Any]], fields: Fields, args: argparse.Namespace) -> str:
    """A report: rows, matches, requests and votes, estimated prompt tokens, and a sample request."""
    fmt = RRMFormat(max_text_chars=args.max_text_chars)
    both = args.order == "both"
    requests_per_match = 2 if both or (args.votes > 1 and args.order != "per_match") else 1
    votes_per_match = args.votes * (2 if both else 1)
    good = bad = matches = prompt_chars = 0
    sample: dict[str, Any] | None = None
    for position, raw in enumerate(rows):
        try:
            row = check_row(raw, position, fields)
        except BadRow:
            bad += 1
            continue
        good += 1
        texts = list(dict.fromkeys(row.candidates))
        n = len(texts)
        row_matches = n - 1 if args.method == "knockout" else n * (n - 1) // 2
        matches += row_matches
        if n > 1:
            as_sent = [keep_ends(t, fmt.max_text_chars) for t in texts] if fmt.max_text_chars else texts
            average = sum(len(t) for t in as_sent) / n
            one_prompt = sum(len(m["content"]) for m in fmt.render(row.query, "", "")) + 2 * average
            prompt_chars += int(row_matches * requests_per_match * one_prompt)
            if sample is None:
                sample = {
                    "model": args.vllm or args.model,
                    "messages": fmt.render(row.query, texts[0], texts[1]),
                    "n": args.votes,
                    "temperature": args.temperature,
                    "max_tokens": args.max_tokens,
                }
    votes = matches * votes_per_match
    lines = [
        f"rows: {good} to judge, {bad} would be rejected",
        f"matches: {matches} ({args.method}, {args.votes} vote(s) each, order {args.order})",
        f"judge requests: at most {matches * requests_per_match} (more only for retries and resamples)",
        f"votes: {votes}",
        f"prompt tokens: about {prompt_chars // CHARS_PER_TOKEN:,} (at {CHARS_PER_TOKEN} characters per token)",
        f"completion tokens: at most {votes * args.max_tokens:,} ({args.max_tokens} per vote)",
        "first request:",
        json.dumps(sample, indent=2, ensure_ascii=False) if sample else "(none: no row has two distinct candidates)",
    ]
    return "\n".join(lines)
