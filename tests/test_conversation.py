from __future__ import annotations

import pytest

from rrm_select.conversation import BadRow, candidate_text, query_text


def test_latest_user_turn_is_the_query_with_earlier_turns_as_context() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None,
         "tool_calls": [{"function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "content": "18C, sunny"},
        {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}]},
    ]  # fmt: skip
    assert query_text(messages) == (
        "Conversation so far:\n\nsystem: Be brief.\nuser: Weather in Paris?\n"
        'assistant: Tool call: get_weather({"city": "Paris"})\ntool: 18C, sunny\n\n'
        "Latest user message:\n\nAnd tomorrow?"
    )
    assert query_text([{"role": "user", "content": "hi"}]) == "hi"


def test_candidates() -> None:
    call = {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": "not json"}}]}
    assert candidate_text(call, 0) == "Tool call: f(not json)"
    assert candidate_text({"content": "text"}, 0) == "text"
    with pytest.raises(BadRow, match="candidate 2 is not text"):
        candidate_text(7, 2)
    with pytest.raises(BadRow, match="no user turn"):
        query_text([{"role": "system", "content": "x"}])
