"""HTTPJudge through real HTTP: the fake OpenAI-compatible server on 127.0.0.1. (Faults, shared
with LiteLLMJudge, are in test_faults.py; these are the parts of the wire only this judge writes.)"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from conftest import by_quality, prefer_quality
from fake_openai import Choice, FakeOpenAIServer, Reply

from rrm_select import (
    EloSelector,
    HTTPJudge,
    InvalidArgumentError,
    JudgeRejectedError,
    JudgeUnavailableError,
    KnockoutSelector,
    RetryPolicy,
)

KEY = "sk-planted-http-key-42"
TEXTS = [f"candidate {i}, quality {q}" for i, q in enumerate([3, 9, 1, 4, 7])]


def test_a_selection_sends_the_openai_body_and_the_key_and_picks_the_best() -> None:
    with FakeOpenAIServer(prefer_quality) as server:
        judge = HTTPJudge("Reward-Reasoning/RRM-7B", api_base=server.api_base + "/", api_key=KEY, max_tokens=64,
                          temperature=0.3, verdict_regex="x+", extra_body={"top_k": 20})  # fmt: skip
        result = EloSelector(judge, votes=3, order="per_match", seed=0).select("Which is best?", TEXTS)
    assert result.best_index == 1 and result.usage.requests == len(server.requests) == 10
    body = server.requests[0]
    assert body["model"] == "Reward-Reasoning/RRM-7B" and body["n"] == 3 and body["max_tokens"] == 64
    assert body["temperature"] == 0.3 and body["top_p"] == 1.0 and body["top_k"] == 20
    assert body["structured_outputs"] == {"regex": "x+"}
    assert body["messages"] == judge.format.render("Which is best?", *_pair(body))
    assert set(server.authorizations) == {f"Bearer {KEY}"}
    assert KEY not in repr(judge) and KEY not in judge.fingerprint


def _pair(body: dict[str, Any]) -> tuple[str, str]:
    from fake_openai import split_prompt

    return split_prompt(body)


def test_reasoning_fields_and_token_shares_are_read() -> None:
    def reasoned(body: dict[str, Any]) -> Reply:
        right = by_quality(body)
        return Reply(choices=[Choice(f"\\boxed{{Assistant {right}}}", reasoning="thinking")] * body.get("n", 1))

    with FakeOpenAIServer(reasoned) as server:
        result = KnockoutSelector(HTTPJudge("judge", api_base=server.api_base), votes=2, order="per_match",
                                  seed=0).select("q", TEXTS[:2])  # fmt: skip
    (match,) = result.matches
    assert match.winner == 1 and all(v.reasoning == "thinking" for v in match.votes)
    prompt_words = sum(len(m["content"].split()) for m in server.requests[0]["messages"])
    assert sum(v.prompt_tokens for v in match.votes) == prompt_words  # one request's count, shared out


def test_a_refused_request_is_one_clear_error_with_the_key_masked() -> None:
    def quotes_the_key(body: dict[str, Any]) -> Reply:
        return Reply(status=400, error=f"context too long for key {KEY}")

    with FakeOpenAIServer(quotes_the_key) as server, pytest.raises(JudgeRejectedError) as info:
        KnockoutSelector(HTTPJudge("judge", api_base=server.api_base, api_key=KEY), seed=0).select("q", TEXTS[:2])
    message = str(info.value)
    assert message.startswith(f"judge judge at {server.api_base} refused the request: HTTP 400")
    assert "context too long" in message and KEY not in message and "***" in message
    assert len(server.requests) == 1  # not retried
    chain = [info.value, info.value.__cause__, info.value.__context__]
    assert not any(KEY in f"{e} {e!r}" for e in chain if e is not None)


def test_a_transient_error_quoting_the_key_is_masked_too() -> None:
    with FakeOpenAIServer(lambda body: Reply(status=503, error=f"overloaded ({KEY})")) as server:
        judge = HTTPJudge("judge", api_base=server.api_base, api_key=KEY, retry=RetryPolicy(max_attempts=2,
                          initial_backoff_s=0, max_backoff_s=0))  # fmt: skip
        with pytest.raises(JudgeUnavailableError) as info:
            asyncio.run(KnockoutSelector(judge, seed=0).aselect("q", TEXTS[:2]))
    assert "failed 2 attempt(s)" in str(info.value) and KEY not in str(info.value)
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"api_base": "127.0.0.1:8000/v1"}, "api_base must be an http(s) URL"),
        ({"api_base": "http://h/v1", "extra_body": {"n": 4}}, "cannot be in extra_body: ['n']"),
        ({"api_base": "http://h/v1", "max_concurrency": 0}, "max_concurrency must be an integer >= 1"),
        ({"api_base": "http://h/v1", "top_p": 0}, "0 < top_p <= 1"),
    ],
)
def test_invalid_options_are_named(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        HTTPJudge("judge", **options)


def test_any_event_loop_works_and_nothing_is_left_to_close() -> None:
    # No session outlives a request: sync calls, asyncio.run and exit leave no warning behind.
    script = textwrap.dedent(
        """
        import asyncio, gc, sys, warnings
        warnings.simplefilter("always")
        from rrm_select import HTTPJudge, KnockoutSelector
        judge = HTTPJudge("judge", api_base=sys.argv[1])
        for seed in range(2):
            selector = KnockoutSelector(judge, seed=seed)
            print(selector.select("q", ["a 1", "b 3", "c 2"]).best_index)
            print(asyncio.run(selector.aselect("q", ["a 1", "b 3", "c 2"])).best_index)
        gc.collect()
        """
    )
    with FakeOpenAIServer(prefer_quality) as server:
        run = subprocess.run([sys.executable, "-c", script, server.api_base], check=False, capture_output=True,
                             text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1"] * 4 and run.stderr == ""
