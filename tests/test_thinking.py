"""Thinking budgets and forced verdicts over real HTTP (the fake server), with the scripted judge,
and the reply reader's reasoning-token rules. The real vLLM paths are in test_vllm.py.

The fake server here is a judge that thinks: its reasoning is `LENGTH` words (a word is a token
to the fake server) naming the candidate it prefers, and it answers from the reasoning in front
of it, so an answer written after a client's continuation shows which reasoning it was given.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from conftest import quality
from fake_openai import Choice, FakeOpenAIServer, Reply, split_prompt

from rrm_select import (
    HTTPJudge,
    InvalidArgumentError,
    JudgeRejectedError,
    JudgmentCache,
    KnockoutSelector,
    LiteLLMJudge,
    ScriptedJudge,
    VoteRequest,
)
from rrm_select.formats import FORCED_CLOSE
from rrm_select.judges.backend import VERDICT_ROOM_TOKENS
from rrm_select.judges.reply import samples_of
from rrm_select.judges.transport import EndpointReply
from rrm_select.rendering import chat_template, r1_prompt

LENGTH = 40
TEXTS = [f"candidate {i}, quality {q}" for i, q in enumerate([3, 9, 1, 4])]
_PREFERS = re.compile(r"prefers-(\d)")


def _reasoning(body: dict[str, Any], words: int, nonce: int) -> str:
    """`words` words of reasoning preferring the better candidate, marked with `nonce`."""
    first, second = split_prompt(body)
    better = 1 if quality(first) > quality(second) else 2
    return " ".join([f"prefers-{better}", f"sample-{nonce}"] + ["step"] * (words - 2))


def _verdict_from(reasoning: str) -> str:
    """The answer of a judge that read `reasoning`: the candidate it says it prefers."""
    found = _PREFERS.findall(reasoning)
    return f"\\boxed{{Assistant {found[0]}}}" if found else "I have no reasoning to answer from."


def thinking_judge(body: dict[str, Any], length: int = LENGTH) -> Reply:
    """The fake server's script: vLLM's chat API with a reasoning parser (``thinking_token_budget``
    honoured), and its completions API continuing whatever prompt it gets."""
    n, limit = body.get("n", 1), body["max_tokens"]
    if "messages" in body:
        budget = body.get("thinking_token_budget")
        thought = min(length, budget) if budget is not None else length
        choices = []
        for i in range(n):
            reasoning = _reasoning(body, thought, i)
            if thought + 2 > limit:  # cut off at max_tokens before its answer: all reasoning
                choices.append(Choice("", " ".join(reasoning.split()[:limit]), "length", reasoning_tokens=limit))
            else:
                choices.append(Choice("\n\n" + _verdict_from(reasoning), reasoning, reasoning_tokens=thought))
        return Reply(choices=choices)
    after = body["prompt"].rsplit("<think>\n", 1)[1]
    if "</think>" in after:  # a continuation: answer from the reasoning the prompt holds
        return Reply(choices=[Choice(_verdict_from(after.split("</think>")[0]))] * n)
    choices = []
    for i in range(n):
        reasoning = _reasoning(body, length, i)
        if length > limit:
            choices.append(Choice(" ".join(reasoning.split()[:limit]), finish_reason="length"))
        else:
            choices.append(Choice(reasoning + "\n</think>\n\n" + _verdict_from(reasoning)))
    return Reply(choices=choices)


def http_judge(server: FakeOpenAIServer, **options: Any) -> HTTPJudge:
    return HTTPJudge("rrm", api_base=server.api_base, **options)


def test_server_forcing_sends_the_budget_and_every_vote_gets_a_verdict() -> None:
    with FakeOpenAIServer(thinking_judge) as server:
        judge = http_judge(server, thinking_budget=10)
        result = KnockoutSelector(judge, votes=3, order="per_match", seed=0).select("Which?", TEXTS)
    assert result.best_index == 1
    for body in server.requests:
        assert body["thinking_token_budget"] == 10 and body["max_tokens"] == 10 + VERDICT_ROOM_TOKENS
        assert "messages" in body and server.paths[0] == "/v1/chat/completions"
    assert all(v.verdict is not None and v.forced and v.reasoning_tokens == 10 for v in result.votes)
    assert all(v.thinking_budget == 10 for v in result.votes)
    assert result.usage.forced_votes == result.usage.votes == 9 and result.usage.requests == 3


def test_without_a_budget_the_same_max_tokens_loses_the_votes_a_budget_saves() -> None:
    with FakeOpenAIServer(thinking_judge) as server:
        cut = KnockoutSelector(http_judge(server, max_tokens=20), seed=0).select("Which?", TEXTS)
        forced = KnockoutSelector(http_judge(server, max_tokens=20, thinking_budget=12), seed=0).select("Which?", TEXTS)
    assert cut.usage.abstentions == cut.usage.votes and cut.usage.resamples == 2 * cut.usage.votes
    assert forced.usage.abstentions == 0 and forced.usage.forced_votes == forced.usage.votes


def test_a_vote_that_closes_its_reasoning_within_the_budget_is_not_forced() -> None:
    with FakeOpenAIServer(thinking_judge) as server:
        judge = http_judge(server, thinking_budget=100)
        one, two = asyncio.run(judge.ajudge([VoteRequest("q", TEXTS[0], TEXTS[1], 1), VoteRequest("q", TEXTS[1], TEXTS[0], 2)]))
    assert [(v.verdict, v.forced, v.reasoning_tokens) for v in one.votes] == [(2, False, LENGTH)]
    # Two samples share one reported sum, below the budget for both: each one's count is unknown.
    assert [(v.verdict, v.forced, v.reasoning_tokens) for v in two.votes] == [(1, False, None)] * 2


@pytest.mark.parametrize("client", ["http", "litellm", "fleet"])
def test_client_forcing_continues_each_cut_vote_from_the_reasoning_it_wrote(client: str) -> None:
    with FakeOpenAIServer(thinking_judge) as server:
        if client == "http":
            judge: Any = http_judge(server, thinking_budget=8, forcing="client")
        else:  # litellm's text completion, of one server or of a Router over two (the same one here)
            api_base = server.api_base if client == "litellm" else [server.api_base, server.api_base + "/"]
            judge = LiteLLMJudge("hosted_vllm/rrm", api_base=api_base, thinking_budget=8, forcing="client")
        ballot = asyncio.run(judge.ajudge([VoteRequest("Which?", TEXTS[0], TEXTS[1], 2)]))[0]
    first, *continuations = server.requests
    assert set(server.paths) == {"/v1/completions"} and ballot.requests == 3  # one start, two continuations
    messages = judge.format.render("Which?", TEXTS[0], TEXTS[1])
    assert first["prompt"] == r1_prompt(messages) and first["max_tokens"] == 8 and first["n"] == 2
    written = sorted(" ".join(_reasoning(first, LENGTH, i).split()[:8]) for i in range(2))
    sent = sorted(body["prompt"] for body in continuations)
    assert sent == sorted(first["prompt"] + text + FORCED_CLOSE for text in written)
    assert all(body["n"] == 1 and body["max_tokens"] == VERDICT_ROOM_TOKENS for body in continuations)
    # The answer came from the reasoning the judge wrote: its own sample's, word for word.
    assert sorted(v.reasoning for v in ballot.votes) == [text + "\n" for text in written]
    assert all(v.verdict == 2 and v.forced and v.reasoning_tokens == 8 for v in ballot.votes)


def test_client_forcing_leaves_a_vote_that_finished_in_time_alone() -> None:
    with FakeOpenAIServer(thinking_judge) as server:
        judge = http_judge(server, thinking_budget=LENGTH + 10, forcing="client")
        ballot = asyncio.run(judge.ajudge([VoteRequest("Which?", TEXTS[1], TEXTS[0], 3)]))[0]
    assert len(server.requests) == 1 and ballot.requests == 1
    assert all(v.verdict == 1 and not v.forced and "sample-" in (v.reasoning or "") for v in ballot.votes)


def test_client_forcing_renders_with_a_given_chat_template() -> None:
    template = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}{{ '<|assistant|><think>\n' }}"
    with FakeOpenAIServer(thinking_judge) as server:
        judge = http_judge(server, thinking_budget=8, forcing="client", chat_template=template)
        asyncio.run(judge.ajudge([VoteRequest("Which?", TEXTS[0], TEXTS[1], 1)]))
    messages = judge.format.render("Which?", TEXTS[0], TEXTS[1])
    assert server.requests[0]["prompt"] == chat_template(template)(messages)
    assert server.requests[0]["prompt"].startswith("<|system|>You are a helpful assistant")


def test_a_server_without_a_reasoning_config_is_a_clear_refusal_naming_client_forcing() -> None:
    message = ("thinking_token_budget is set but reasoning_config is not configured. Please set "
               "--reasoning-parser and/or --reasoning-config to use thinking_token_budget.")  # fmt: skip
    with FakeOpenAIServer(lambda body: Reply(status=400, error=message)) as server:
        with pytest.raises(JudgeRejectedError, match="forcing='client'") as info:
            asyncio.run(http_judge(server, thinking_budget=8).ajudge([VoteRequest("q", "a", "b", 1)]))
    assert info.value.status == 400 and len(server.requests) == 1  # a refusal is not retried


def test_a_server_without_a_completions_endpoint_is_a_clear_refusal_naming_server_forcing() -> None:
    with FakeOpenAIServer(lambda body: Reply(status=404, error="Not Found")) as server:
        with pytest.raises(JudgeRejectedError, match="forcing='server'"):
            asyncio.run(http_judge(server, thinking_budget=8, forcing="client").ajudge([VoteRequest("q", "a", "b", 1)]))


def test_the_budget_is_part_of_a_votes_cache_key() -> None:
    cache = JudgmentCache(":memory:")
    with FakeOpenAIServer(thinking_judge) as server:
        for budget in (8, 8, 16, None):
            judge = http_judge(server, thinking_budget=budget, cache=cache)
            asyncio.run(judge.ajudge([VoteRequest("q", TEXTS[0], TEXTS[1], 1)]))
        client = http_judge(server, thinking_budget=8, forcing="client", cache=cache)
        asyncio.run(client.ajudge([VoteRequest("q", TEXTS[0], TEXTS[1], 1)]))
    # 8 once (the second served by the cache), 16, no budget, then 8 forced by the client (2 calls).
    assert [b.get("thinking_token_budget") for b in server.requests[:3]] == [8, 16, None]
    assert len(server.requests) == 5 and len(cache) == 4


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"thinking_budget": 0}, "thinking_budget"),
        ({"thinking_budget": "1k"}, "thinking_budget"),
        ({"thinking_budget": True}, "thinking_budget"),
        ({"thinking_budget": 512, "max_tokens": 512}, "max_tokens"),
        ({"thinking_budget": 512, "max_tokens": 100}, "max_tokens"),
        ({"forcing": "both"}, "forcing"),
        ({"extra_body": {"thinking_token_budget": 8}}, "thinking_token_budget"),
    ],
)
def test_bad_thinking_options_name_the_option(options: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidArgumentError, match=named):
        HTTPJudge("rrm", api_base="http://127.0.0.1:9/v1", **options)


def test_a_judge_that_cannot_force_refuses_a_budget_by_name() -> None:
    with pytest.raises(InvalidArgumentError, match="thinking_budget=64.*no thinking budget"):
        ScriptedJudge.by_score(float, forcing_modes=(), thinking_budget=64)
    with pytest.raises(InvalidArgumentError, match="forcing='client'.*use forcing='server'"):
        ScriptedJudge.by_score(float, forcing_modes=("server",), thinking_budget=64, forcing="client")


@pytest.mark.parametrize("forcing", ["server", "client"])
def test_scripted_judge_simulates_forcing(forcing: str) -> None:
    judge = ScriptedJudge.by_score(quality, reasoning_tokens=50, thinking_budget=10, forcing=forcing)  # type: ignore[arg-type]
    result = KnockoutSelector(judge, seed=0).select("q", TEXTS)
    assert result.best_index == 1 and result.usage.forced_votes == 3
    assert all(v.reasoning_tokens == 10 and v.answer.split("</think>")[1].strip().startswith("\\boxed") for v in result.votes)
    assert result.usage.requests == (3 if forcing == "server" else 6)  # a continuation per forced vote
    lost = KnockoutSelector(ScriptedJudge.by_score(quality, reasoning_tokens=50, max_tokens=30), seed=0)
    assert lost.select("q", TEXTS).usage.abstentions == 3


def _reply(reasoning_tokens: int, reasonings: list[str]) -> EndpointReply:
    choices = [{"message": {"content": "x", "reasoning": r}, "finish_reason": "stop"} for r in reasonings]
    usage = {"completion_tokens": 10, "completion_tokens_details": {"reasoning_tokens": reasoning_tokens}}
    return EndpointReply({"choices": choices, "usage": usage}, 0.1)


def test_reasoning_tokens_are_read_where_the_reply_tells_them_per_sample() -> None:
    assert [s.reasoning_tokens for s in samples_of(_reply(7, ["r"]))] == [7]
    both_at_budget = samples_of(_reply(16, ["r", "r"]), budget=8)
    assert [(s.reasoning_tokens, s.forced) for s in both_at_budget] == [(8, True), (8, True)]
    assert [s.reasoning_tokens for s in samples_of(_reply(12, ["r", "r"]), budget=8)] == [None, None]
    # vLLM says 0 when the prompt opened the reasoning: unknown, not nothing.
    assert [s.reasoning_tokens for s in samples_of(_reply(0, ["some reasoning"]))] == [None]
