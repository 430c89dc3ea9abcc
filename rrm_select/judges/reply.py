"""The one reader of an OpenAI-compatible reply: samples, reasoning, finish reasons, tokens."""

from __future__ import annotations

from typing import Any

from rrm_select.errors import JudgeUnavailableError
from rrm_select.judges.backend import Sample, split_evenly
from rrm_select.judges.transport import EndpointReply


def samples_of(reply: EndpointReply, budget: int | None = None) -> list[Sample]:
    """One sample per choice of a chat completion (``message``) or a completion (``text``); the
    reply's tokens and cost are shared out evenly (servers report a request with n samples as
    one sum). A body that is no completion is a transient failure: a proxy cut it off, or
    answered for a server that is not up.

    Reasoning tokens come from ``usage.completion_tokens_details.reasoning_tokens`` (vLLM with a
    reasoning parser), also a sum: a sample's own count is known when it is the only one, or when
    the sum is `budget` (the server-forced thinking budget) for every sample, which then were all
    forced. Otherwise it is None, and a sample cannot be known to have been forced."""
    choices = reply.body.get("choices")
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise JudgeUnavailableError(f"a reply that is not a completion: {str(reply.body)[:200]!r}")
    usage = reply.body.get("usage") or {}
    prompt_tokens = _count(usage.get("prompt_tokens"))
    completion_tokens = _count(usage.get("completion_tokens"))
    share = len(choices) or 1
    reasoning_tokens = _reasoning_tokens(usage, [_texts(c)[1] for c in choices], budget)
    samples = []
    for i, choice in enumerate(choices):
        content, reasoning = _texts(choice)
        samples.append(
            Sample(
                content=content,
                reasoning=reasoning,
                finish_reason=choice.get("finish_reason"),
                latency_s=reply.latency_s,
                prompt_tokens=split_evenly(prompt_tokens, share, i),
                completion_tokens=split_evenly(completion_tokens, share, i),
                cost_usd=None if reply.cost_usd is None else reply.cost_usd / share,
                reasoning_tokens=reasoning_tokens,
                forced=budget is not None and reasoning_tokens is not None and reasoning_tokens >= budget,
            )
        )
    return samples


def _texts(choice: dict[str, Any]) -> tuple[str, str | None]:
    """(content, reasoning) of one choice."""
    message = choice.get("message")
    if not isinstance(message, dict):  # the completions endpoint: the text is all there is
        return str(choice.get("text") or ""), None
    # vLLM's reasoning parser sends `reasoning_content` (older) or `reasoning` (newer); both are
    # absent or None without a parser. An empty reasoning is still a split-off reasoning (the
    # content is then the whole answer).
    reasoning = message.get("reasoning_content")
    if reasoning is None:
        reasoning = message.get("reasoning")
    return str(message.get("content") or ""), reasoning


def _reasoning_tokens(usage: dict[str, Any], reasonings: list[str | None], budget: int | None) -> int | None:
    """Each sample's reasoning tokens where the reply's sum tells them (see `samples_of`)."""
    details = usage.get("completion_tokens_details")
    total = details.get("reasoning_tokens") if isinstance(details, dict) else None
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        return None
    if total == 0 and any(reasonings):
        # vLLM counts only reasoning opened by a <think> in the output; after the R1 template's
        # generation prompt opened it, it reports 0 for any length: unknown, not none.
        return None
    if len(reasonings) == 1:
        return total
    return budget if budget is not None and total == budget * len(reasonings) else None


def _count(value: object) -> int:
    try:
        return int(value or 0)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
