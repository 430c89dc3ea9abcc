"""`rrm-select filter --dry-run`: what a run would ask of the judge, without asking it.

The figures come from the run's own selector (`cli.make_selector`): its `planned_matches` for
each row's distinct texts (the selector folds duplicates; with ``--answer``, given their answers,
so matches between two of one answer are not counted), and `match_cost` for the requests and
votes of a match under its order policy, early stop and escalation. They are exact where the
run is deterministic, and bounds ("at most") where random orders, early stop or a limit decide.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from typing import Any

from rrm_select import BadRow, Selector, answer_bound, answers_of, match_cost
from rrm_select.filter.dataset import Fields, check_row

CHARS_PER_TOKEN = 4  # a rough average for English text and code; the real count is the tokenizer's


def estimate(rows: Iterable[dict[str, Any]], fields: Fields, selector: Selector, args: argparse.Namespace) -> str:
    """A report on what `selector` would do over `rows`: rows, matches, judge requests and votes,
    estimated tokens, and a sample request (`args` gives the judge's model and sampling)."""
    rules = selector.rules
    escalation = rules["thinking_budgets"]
    cost = match_cost(rules["order"], rules["votes"], rules["early_stop"], rules["confidence"], escalation is not None)
    # A vote's tokens under its thinking budget: the first wave's for the sample request, the
    # longest budget's for the bound (raising, as the judge would, if max_tokens leaves no room).
    budgets = escalation or (selector.judge.thinking_budget,)
    option = "thinking_budgets" if escalation else "thinking_budget"
    first_max_tokens = answer_bound(args.max_tokens, budgets[0], option)
    per_vote = answer_bound(args.max_tokens, budgets[-1], option)
    fmt = selector.judge.format
    good = bad = matches = fewest_requests = most_requests = prompt_chars = 0
    sample: dict[str, Any] | None = None
    for position, raw in enumerate(rows):
        try:
            row = check_row(raw, position, fields)
        except BadRow:
            bad += 1
            continue
        good += 1
        texts = list(dict.fromkeys(row.candidates))
        if len(texts) < 2:  # one distinct text: chosen without a match
            continue
        key = rules["answer_key"]
        row_matches = selector.planned_matches(len(texts), None if key is None else answers_of(key, texts))
        matches += row_matches
        fewest_requests += row_matches * cost.fewest_requests
        row_requests = row_matches * cost.most_requests
        if rules["budget"] is not None:  # it counts every prompt sent but transport retries (left out here)
            row_requests = min(row_requests, rules["budget"])
        most_requests += row_requests
        # A prompt of average size: the template with two texts of average length, as sent.
        one_prompt = sum(_chars(fmt.render(row.query, text, text)) for text in texts) / len(texts)
        prompt_chars += int(row_requests * one_prompt)
        if sample is None:
            sample = {
                "model": args.vllm or args.model,
                "messages": fmt.render(row.query, texts[0], texts[1]),
                "n": rules["votes"],
                "temperature": args.temperature,
                "max_tokens": first_max_tokens,
                **({} if budgets[0] is None else {"thinking_budget": budgets[0]}),
            }
    named = (("budget", "budget"), ("token budget", "token_budget"), ("deadline", "deadline_s"))
    limits = [name for name, rule in named if rules[rule] is not None]
    if rules["answer_key"] is not None and selector.method != "elo":
        limits.append("answers")  # who wins decides how many pairs of different answers are left
    waves = ["early stop"] if cost.fewest_votes != cost.most_votes else []
    coins = ["random orders"] if rules["order"] == "random" and rules["votes"] > 1 else []
    requests = _count(fewest_requests, most_requests, limits, coins + waves)
    votes = _count(matches * cost.fewest_votes, matches * cost.most_votes, limits, waves)
    tokens_bound = "" if cost.fewest_requests == cost.most_requests and not limits else "at most "
    lines = [
        f"rows: {good} to judge, {bad} would be rejected",
        f"matches: {matches} ({selector.method}, {rules['votes']} vote(s) each, order {rules['order']}"
        f"{'' if rules['early_stop'] == 'off' else ', early stop ' + rules['early_stop']})",
        f"judge requests: {requests}; retries and resamples add more, votes in the cache need none",
        f"votes: {votes}",
        f"prompt tokens: {tokens_bound}about {prompt_chars // CHARS_PER_TOKEN:,} (at {CHARS_PER_TOKEN} characters"
        " per token)",
        f"completion tokens: at most {matches * cost.most_votes * per_vote:,} ({per_vote} per vote)",
        "first request:",
        json.dumps(sample, indent=2, ensure_ascii=False) if sample else "(none: no row has two distinct candidates)",
    ]
    return "\n".join(lines)


def _count(fewest: int, most: int, limits: list[str], chance: list[str]) -> str:
    """A count for the report: exact, or its bounds and what decides between them."""
    if limits:  # a budget or deadline can stop a selection after any call
        return f"at most {most} (the {' and '.join(limits)} may stop a selection sooner)"
    if fewest == most:
        return str(most)
    return f"at most {most}, at least {fewest} (decided by the {' and '.join(chance)})"


def _chars(messages: list[Any]) -> int:
    return sum(len(message["content"]) for message in messages)
