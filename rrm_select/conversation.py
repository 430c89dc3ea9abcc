"""What the judge sees of a conversation and of a candidate.

The RRM prompt has one query and two answers. A chat's latest user turn is the query; earlier
turns are given before it as context, in the query slot, in a fixed layout:

    Conversation so far:

    system: ...
    user: ...
    assistant: ...

    Latest user message:

    ...

A candidate is its text; a tool call is judged on a readable rendering, ``Tool call: name(args)``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

RejectCode = Literal[
    "not_an_object", "missing_query", "missing_candidates", "no_candidates", "bad_query", "bad_candidate",
    "invalid_unicode", "same_texts", "judge_refused", "over_budget",
]  # fmt: skip
"""Why a row was not judged, as the rejects files record it (``code``, beside the ``reason`` in
words): not a JSON object; its query or candidates field missing; no candidates (not a
non-empty list); a query or a candidate that is not text; a lone surrogate in either; (for
calibration) chosen and rejected the same text; the judge refused the row (e.g. too long for
it); the selection's budget cannot pay for one match."""


class BadRow(ValueError):
    """An input that cannot be judged: `reason` says what is wrong in words, `code` in one word
    (a dataset row goes to the rejects file with both)."""

    def __init__(self, reason: str, code: RejectCode) -> None:
        super().__init__(reason)
        self.code: RejectCode = code

    def __reduce__(self) -> tuple[type[BadRow], tuple[str, RejectCode]]:
        return BadRow, (str(self), self.code)  # picklable, like every rrm_select error


def unicode_error(text: str) -> UnicodeEncodeError | None:
    """Why `text` is not valid Unicode (a lone surrogate, which JSON allows), or None.

    Such text cannot be sent to a judge, used in a cache key or written back as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc
    return None


def query_text(value: Any) -> str:
    """The query the judge sees: a string as is; for chat messages, the last user turn, with
    earlier turns given before it as context (see the module docstring)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list) or not value or not all(isinstance(m, dict) for m in value):
        raise BadRow("query must be a string or a list of chat messages", "bad_query")
    last_user = max((i for i, m in enumerate(value) if m.get("role") == "user"), default=None)
    if last_user is None:
        raise BadRow("chat messages have no user turn", "bad_query")
    texts = [message_text(m) for m in value[: last_user + 1]]
    if None in texts:
        raise BadRow("a chat message of the query has no text content", "bad_query")
    earlier = zip(value[:last_user], texts[:last_user], strict=True)
    context = "\n".join(f"{m.get('role', 'user')}: {t}" for m, t in earlier)
    question = texts[last_user]
    return f"Conversation so far:\n\n{context}\n\nLatest user message:\n\n{question}" if context else question


def candidate_text(value: Any, index: int) -> str:
    """A candidate's text: a string, or a message (its content, or its tool calls)."""
    text = value if isinstance(value, str) else message_text(value) if isinstance(value, dict) else None
    if text is None:
        raise BadRow(f"candidate {index} is not text (a string, or a message with text content or tool calls)",
                     "bad_candidate")  # fmt: skip
    return text


def message_text(message: dict[str, Any]) -> str | None:
    """A chat message as text: string content, the text parts of a content list, or tool calls;
    None when it has none of them."""
    content = message.get("content")
    if isinstance(content, str) and (content or not message.get("tool_calls")):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        return "\n".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
    if message.get("tool_calls"):
        return tool_calls_text(message["tool_calls"])
    return None


def tool_calls_text(tool_calls: list[Any]) -> str:
    """``Tool call: name({...})`` per call, from OpenAI-style tool call objects or dicts."""
    lines = []
    for call in tool_calls:
        function = call["function"] if isinstance(call, dict) else call.function
        name = function["name"] if isinstance(function, dict) else function.name
        arguments = function["arguments"] if isinstance(function, dict) else function.arguments
        try:
            arguments = json.dumps(json.loads(arguments), ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError):
            pass  # not JSON: show it as the model wrote it
        lines.append(f"Tool call: {name}({arguments})")
    return "\n".join(lines)
