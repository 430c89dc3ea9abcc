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
    generic_chunks,
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
        qualities = [QUALITIES[next(generated)] for _ in range(count)]
        if not tool_calls:
            return Reply(choices=[Choice(f"answer with quality {q}") for q in qualities])
        return Reply(choices=[tool_call_choice(q) for q in qualities])

    return script


def tool_call_choice(quality: int) -> Choice:
    """A candidate that is two tool calls and no text; the judge reads its quality in the second.
    The arguments are spaced oddly, to see that they reach the caller exactly as written."""
    search = {"name": "search", "arguments": '{"city":"Oslo" }'}
    rate = {"name": "rate", "arguments": f'{{ "quality":{quality}}}'}
    calls = [{"id": f"q{quality}-{i}", "type": "function", "function": f} for i, f in enumerate((search, rate))]
    return Choice("", finish_reason="tool_calls", tool_calls=calls)


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


def test_bad_arguments_fail_clearly() -> None:
    judge = LiteLLMJudge("hosted_vllm/judge", api_base="http://127.0.0.1:9/v1")
    with pytest.raises(InvalidArgumentError, match="exactly one of selector= or judge="):
        completion(model="m", messages=MESSAGES)
    with pytest.raises(InvalidArgumentError, match="n must be an integer >= 1"):
        completion(model="m", messages=MESSAGES, n=0, judge=judge)
    with pytest.raises(InvalidArgumentError, match="n must be an integer >= 1"):  # before any stream
        completion(model="m", messages=MESSAGES, n=0, judge=judge, stream=True)
    with pytest.raises(InvalidArgumentError, match="messages: chat messages have no user turn"):
        completion(model="m", messages=[{"role": "system", "content": "x"}], judge=judge)


def streamed(*, sync: bool = True, tool_calls: bool = False, **kwargs: Any) -> tuple[Any, list[Any]]:
    """A best-of-4 stream from `completion` (or `acompletion`) on a fresh server, and its chunks."""
    with FakeOpenAIServer(make_script(tool_calls=tool_calls)) as server:
        args = {"messages": MESSAGES, "n": 4, "judge": make_judge(server), "stream": True, **gen_kwargs(server)}
        if sync:
            stream = completion(**args, **kwargs)
            return stream, list(stream)

        async def read() -> tuple[Any, list[Any]]:
            stream = await acompletion(**args, **kwargs)
            return stream, [chunk async for chunk in stream]

        return asyncio.run(read())


def test_a_stream_replays_the_non_streamed_winner_after_the_selection() -> None:
    with FakeOpenAIServer(make_script()) as server:
        plain = completion(messages=MESSAGES, n=4, judge=make_judge(server), **gen_kwargs(server))
    stream, chunks = streamed(sync=False, stream_options={"include_usage": True})
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == plain.choices[0].message.content == "answer with quality 8"
    response = stream.response
    assert {(c.id, c.created, c.model) for c in chunks} == {(response.id, response.created, response.model)}
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices] == [None, "stop"]
    assert selection_of(stream).best == "answer with quality 8" and generation_usage_of(stream).requests == 1


def test_the_generator_is_called_without_stream() -> None:
    with FakeOpenAIServer(make_script()) as server:
        completion(messages=MESSAGES, n=2, judge=make_judge(server), stream=True,
                   stream_options={"include_usage": True}, **gen_kwargs(server))  # fmt: skip
    (generation,) = [r for r in server.requests if not is_judge(r)]
    assert "stream" not in generation and "stream_options" not in generation


def test_sync_and_async_streams_give_the_same_chunks_and_usage_only_when_asked() -> None:
    stream, asked = streamed(stream_options={"include_usage": True})
    _, asked_async = streamed(sync=False, stream_options={"include_usage": True})
    assert [c.model_dump(exclude={"created"}) for c in asked] == [
        c.model_dump(exclude={"created"}) for c in asked_async
    ]
    *content, usage_chunk = asked
    # OpenAI's usage chunk: last, no choices, the response's usage (generation plus judging)
    assert usage_chunk.choices == [] and usage_chunk.usage == stream.response.usage
    gen, judging = generation_usage_of(stream), selection_of(stream).usage
    assert usage_chunk.usage.prompt_tokens == gen.prompt_tokens + judging.prompt_tokens
    assert usage_chunk.usage.completion_tokens == gen.completion_tokens + judging.completion_tokens
    assert all(getattr(c, "usage", None) is None for c in content)
    for unasked in (streamed()[1], streamed(stream_options={"include_usage": False})[1]):
        assert [c.model_dump(exclude={"created"}) for c in unasked] == [
            c.model_dump(exclude={"created"}) for c in content
        ]


def test_a_winner_with_two_tool_calls_streams_both_byte_for_byte() -> None:
    import litellm

    stream, chunks = streamed(tool_calls=True)
    deltas = [c.choices[0].delta for c in chunks]
    assert deltas[0].role == "assistant" and not deltas[0].content  # no empty text delta before the calls
    calls = [
        (call.index, call.id, call.function.name, call.function.arguments)
        for d in deltas
        for call in d.tool_calls or []
    ]
    assert calls == [(0, "q8-0", "search", '{"city":"Oslo" }'), (1, "q8-1", "rate", '{ "quality":8}')]
    assert [len(d.tool_calls or []) for d in deltas] == [1, 1, 0]  # one chunk per call, then the finish
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    rebuilt = litellm.stream_chunk_builder(chunks).choices[0]
    winner = stream.response.choices[0]
    assert rebuilt.finish_reason == "tool_calls" and not rebuilt.message.content
    assert [(t.id, t.type, t.function.name, t.function.arguments) for t in rebuilt.message.tool_calls] == [
        (t.id, t.type, t.function.name, t.function.arguments) for t in winner.message.tool_calls
    ]


def test_generic_chunks_for_a_litellm_provider() -> None:
    with FakeOpenAIServer(make_script(tool_calls=True)) as server:
        response = completion(messages=MESSAGES, n=4, judge=make_judge(server), **gen_kwargs(server))
    base = {"text": "", "tool_use": None, "is_finished": False, "finish_reason": "", "usage": None, "index": 0}
    calls = [("q8-0", "search", '{"city":"Oslo" }'), ("q8-1", "rate", '{ "quality":8}')]
    usage = response.usage
    totals = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
              "total_tokens": usage.total_tokens}  # fmt: skip
    expected = [
        *(base | {"tool_use": {"id": i, "type": "function", "function": {"name": n, "arguments": a}, "index": k}}
          for k, (i, n, a) in enumerate(calls)),
        base | {"is_finished": True, "finish_reason": "tool_calls", "usage": totals},
    ]  # fmt: skip
    assert generic_chunks(response, include_usage=True) == expected
    assert generic_chunks(response, include_usage=False) == [*expected[:-1], expected[-1] | {"usage": None}]
    text_winner = response.model_copy(deep=True)
    text_winner.choices[0].message.content, text_winner.choices[0].message.tool_calls = "hello", None
    text_winner.choices[0].finish_reason = None
    assert generic_chunks(text_winner, include_usage=False) == [
        base | {"text": "hello"},
        base | {"is_finished": True, "finish_reason": "stop"},
    ]


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
