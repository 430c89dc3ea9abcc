"""Client-side budget forcing: continuing a sample that was cut at its thinking budget.

A backend forcing on the client generates at most `ThinkingBudget.tokens` per sample. A sample
that stopped by itself is done. One cut off there is continued, as the same generation: from
the prompt, its own text and, when it was still reasoning, `ThinkingBudget.close` (the end of
thinking); the continuation then writes the answer. A sample cut off after its reasoning had
closed (in its answer) is continued from its text alone. Backends send the continuation their
own way (token ids in-process, prompt text over HTTP); what to append and how the two parts
make one sample is here, once.
"""

from __future__ import annotations

import dataclasses

from rrm_select.formats import THINK_END, split_reasoning
from rrm_select.judges.backend import Sample, ThinkingBudget


def cut_at_budget(sample: Sample) -> bool:
    """Whether a first sample stopped at the budget's token limit (and needs a continuation)."""
    return sample.finish_reason == "length"


def continuation_of(text: str, thinking: ThinkingBudget) -> str:
    """What follows the prompt in a cut sample's continuation: its text, closed if still reasoning."""
    return text if THINK_END in text else text + thinking.close


def joined(first: Sample, rest: Sample, thinking: ThinkingBudget) -> Sample:
    """One sample from a cut first part and its continuation (both raw text, reasoning not split
    off): the reasoning it wrote, the answer the continuation gave, the tokens and time of both
    (the continuation's prompt re-reads the reasoning, so its prompt tokens count too)."""
    forced = THINK_END not in first.content
    answer, reasoning = split_reasoning(continuation_of(first.content, thinking) + rest.content)
    costs = [c for c in (first.cost_usd, rest.cost_usd) if c is not None]
    return Sample(
        content=answer,
        reasoning=reasoning,
        finish_reason=rest.finish_reason,
        latency_s=first.latency_s + rest.latency_s,
        prompt_tokens=first.prompt_tokens + rest.prompt_tokens,
        completion_tokens=first.completion_tokens + rest.completion_tokens,
        cost_usd=sum(costs) if costs else None,
        reasoning_tokens=thinking.tokens if forced else first.reasoning_tokens,
        forced=forced,
    )


def finished(sample: Sample) -> Sample:
    """A first sample (raw text) that stopped by itself, its reasoning split off its answer."""
    answer, reasoning = split_reasoning(sample.content)
    return dataclasses.replace(sample, content=answer, reasoning=reasoning)
