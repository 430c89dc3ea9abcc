"""The one reader of an OpenAI-compatible reply: samples, reasoning, finish reasons, tokens."""

from __future__ import annotations

from typing import Any

from rrm_select.errors import JudgeUnavailableError
from rrm_select.judges.backend import Sample, split_evenly
from rrm_select.judges.transport import EndpointReply


def samples_of(reply: EndpointReply) -> list[Sample]:
    """One sample per choice of a chat completion (``message``) or a completion (``text``); the
    reply's tokens and cost are shared out evenly (servers report a request with n samples as
    one sum). A body that is no completion is a transient failure: a proxy cut it off, or
    answered for a server that is not up."""
    choices = reply.body.get("choices")
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise JudgeUnavailableError(f"a reply that is not a completion: {str(reply.body)[:200]!r}")
    usage = reply.body.get("usage") or {}
    prompt_tokens = _count(usage.get("prompt_tokens"))
    completion_tokens = _count(usage.get("completion_tokens"))
    share = len(choices) or 1
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


def _count(value: object) -> int:
    try:
        return int(value or 0)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
