"""Best-of-n completion and rerank through real HTTP: one loopback server plays both the
generator (plain chat requests) and the judge (RRM prompts)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from conftest import quality
from fake_openai import Choice, FakeOpenAIServer, Reply, rrm_choice, split_prompt
from pydantic import BaseModel

from rrm_select import (
    EloSelector,
    InvalidArgumentError,
    KnockoutSelector,
    LiteLLMJudge,
    acompletion,
    completion,
    generation_usage_of,
    rerank,
    selection_of,
)
from rrm_select.formats import SYSTEM

QUALITIES = [3, 8, 1, 6, 2, 7]


def is_judge(body: dict[str, Any]) -> bool:
    return body["messages"][0]["content"] == SYSTEM


def make_script(ignore_n: bool = False, tool_calls: bool = False):
    generated = iter(range(100))

    def script(body: dict[str, Any]) -> Reply:
        if is_judge(body):
            first, second = split_prompt(body)
            return Reply(choices=[rrm_choice(1 if quality(first) > quality(second) else 2)] * body.get("n", 1))
        count = 1 if ignore_n else body.get("n", 1)
        return Reply(choices=[Choice(f"answer with quality {QUALITIES[next(generated)]}") for _ in range(count)])

    return script


def gen_kwargs(server: FakeOpenAIServer) -> dict[str, Any]:
    return {"model": "hosted_vllm/generator", "api_base": server.api_base, "api_key": "k"}


def make_judge(server: FakeOpenAIServer) -> LiteLLMJudge:
    return LiteLLMJudge("hosted_vllm/judge", api_base=server.api_base, api_key="k")


MESSAGES = [{"role": "user", "content": "Tell me something good."}]


def test_completion_returns_the_best_of_n_as_a_normal_response() -> None:
    with FakeOpenAIServer(make_script()) as server:
        response = completion(messages=MESSAGES, n=4, judge=make_judge(server), **gen_kwargs(server))
    generation = [r for r in server.requests if not is_judge(r)]
    assert len(generation) == 1 and generation[0]["n"] == 4  # one generation request with n
    assert len(response.choices) == 1 and response.choices[0].index == 0
    assert response.choices[0].message.content == "answer with quality 8"
    selection = selection_of(response)
    assert selection.best == "answer with quality 8" and len(selection.matches) == 3
    gen = generation_usage_of(response)
    assert response.usage.prompt_tokens == gen.prompt_tokens + selection.usage.prompt_tokens
    assert response.usage.completion_tokens == gen.completion_tokens + selection.usage.completion_tokens


def test_providers_that_ignore_n_are_fanned_out() -> None:
    with FakeOpenAIServer(make_script(ignore_n=True)) as server:
        response = asyncio.run(
            acompletion(messages=MESSAGES, n=5, selector=EloSelector(make_judge(server)), **gen_kwargs(server))
        )
    generation = [r for r in server.requests if not is_judge(r)]
    assert [r["n"] for r in generation] == [5, 1, 1, 1, 1]
    # the fanned-out requests may come back in any order
    assert sorted(selection_of(response).candidates) == sorted(f"answer with quality {q}" for q in QUALITIES[:5])
    assert response.choices[0].message.content == "answer with quality 8"
    assert generation_usage_of(response).requests == 5


def test_judging_starts_while_fanned_out_candidates_are_still_generated() -> None:
    script = make_script(ignore_n=True)
    generations = iter(range(100))
    answered_at: list[float] = []  # when each generation response leaves the server
    judged_at: list[float] = []

    def slow_stragglers(body: dict[str, Any]) -> Reply:
        reply = script(body)
        if is_judge(body):
            judged_at.append(time.monotonic())
        else:  # the first request and the first fan-out are quick, two more take a second
            reply.delay_s = 0.0 if next(generations) < 2 else 1.0
            answered_at.append(time.monotonic() + reply.delay_s)
        return reply

    with FakeOpenAIServer(slow_stragglers) as server:
        response = completion(messages=MESSAGES, n=4, selector=EloSelector(make_judge(server)), **gen_kwargs(server))
    assert len(answered_at) == 4 and len(judged_at) == 6
    assert min(judged_at) < max(answered_at) - 0.5  # the two quick candidates met at once
    assert response.choices[0].message.content == "answer with quality 8"
    assert selection_of(response).usage.requests == 6


def test_the_judge_sees_the_conversation_and_readable_tool_calls() -> None:
    def script(body: dict[str, Any]) -> Reply:
        if is_judge(body):
            return make_script()(body)
        call = {
            "id": "c1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"days": 2, "city": "Oslo"}'},
        }
        message_reply = Reply(choices=[Choice("answer quality 1"), Choice("")])
        message_reply.choices[1].tool_calls = [call]  # type: ignore[attr-defined]
        return message_reply

    messages = [{"role": "system", "content": "You help travellers."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Weather in Oslo?"}]  # fmt: skip
    with FakeOpenAIServer(script) as server:
        response = completion(messages=messages, n=2, judge=make_judge(server), **gen_kwargs(server))
    judge_prompt = next(r for r in server.requests if is_judge(r))["messages"][1]["content"]
    assert "Conversation so far:\n\nsystem: You help travellers.\nuser: Hi\nassistant: Hello!" in judge_prompt
    assert "Latest user message:\n\nWeather in Oslo?" in judge_prompt
    rendered = 'Tool call: get_weather({"city": "Oslo", "days": 2})'
    assert rendered in judge_prompt and selection_of(response).candidates[1] == rendered
    # the tool call won (quality 2 > 1): the caller gets it back as a tool call, untouched
    assert response.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_streaming_and_bad_arguments_fail_clearly() -> None:
    judge = LiteLLMJudge("hosted_vllm/judge", api_base="http://127.0.0.1:9/v1")
    with pytest.raises(InvalidArgumentError, match="stream=True is not supported"):
        completion(model="m", messages=MESSAGES, n=2, judge=judge, stream=True)
    with pytest.raises(InvalidArgumentError, match="exactly one of selector= or judge="):
        completion(model="m", messages=MESSAGES)
    with pytest.raises(InvalidArgumentError, match="n must be an integer >= 1"):
        completion(model="m", messages=MESSAGES, n=0, judge=judge)
    with pytest.raises(InvalidArgumentError, match="messages: chat messages have no user turn"):
        completion(model="m", messages=[{"role": "system", "content": "x"}], judge=judge)


class Trajectory(BaseModel):
    steps: list[str]
    answer: str


def test_rerank_arbitrary_items() -> None:
    items = [Trajectory(steps=["search"], answer=f"result quality {q}") for q in (2, 9, 4, 7)]
    with FakeOpenAIServer(make_script()) as server:
        selector = EloSelector(make_judge(server), seed=0)
        ranked = rerank("Find it.", items, selector=selector, text=lambda t: t.answer, top_k=2)
        dicts = rerank("Find it.", [{"answer": "x quality 1"}, {"answer": "y quality 5"}], selector=selector)
    assert [t.answer for t in ranked.items] == ["result quality 9", "result quality 7"]
    assert ranked.indices == [1, 3] and ranked.scores[0] > ranked.scores[1]
    assert len(ranked.selection.matches) == 6
    assert dicts.items[0] == {"answer": "y quality 5"}
    assert '"answer": "y quality 5"' in dicts.selection.candidates[1]  # dicts are shown as JSON
    with pytest.raises(InvalidArgumentError, match="top_k must be"):
        rerank("q", ["a"], selector=selector, top_k=0)


def test_completion_inside_a_running_loop() -> None:
    with FakeOpenAIServer(make_script()) as server:
        selector = KnockoutSelector(make_judge(server), seed=0)

        async def handler() -> str:
            response = completion(messages=MESSAGES, n=2, selector=selector, **gen_kwargs(server))
            return str(response.choices[0].message.content)

        assert asyncio.run(handler()) == "answer with quality 8"
