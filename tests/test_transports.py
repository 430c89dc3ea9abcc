"""The endpoint judge over its transports, through real HTTP (tests/fake_openai.py): one body
rule, one reply parser and one error shape for all of them, and the pooled aiohttp session."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import prefer_quality
from fake_openai import Choice, FakeOpenAIServer, Reply

from rrm_select import (
    AiohttpTransport,
    BudgetExhaustedError,
    DeadlineExceededError,
    EndpointJudge,
    EndpointRequest,
    HTTPJudge,
    InvalidArgumentError,
    JudgeError,
    JudgeRejectedError,
    JudgeUnavailableError,
    KnockoutSelector,
    LiteLLMJudge,
    LiteLLMTransport,
    RetryPolicy,
    RRMFormat,
)
from rrm_select.formats import VerdictRule

KEY = "sk-planted-transport-key-7"
FAST = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.05)
TEXTS = ["answer, quality 1", "answer, quality 5"]


def litellm_judge(api_base: str, **options: Any) -> LiteLLMJudge:
    return LiteLLMJudge("hosted_vllm/judge", api_base=api_base, api_key=KEY, **options)


def http_judge(api_base: str, **options: Any) -> HTTPJudge:
    return HTTPJudge("judge", api_base=api_base, api_key=KEY, **options)


JUDGES = [pytest.param(litellm_judge, id="litellm"), pytest.param(http_judge, id="http")]


# --- one body rule -----------------------------------------------------------------------------


@pytest.mark.parametrize("make", JUDGES)
def test_verdict_regex_merges_into_the_callers_structured_outputs(make: Any) -> None:
    regex = RRMFormat().verdict_regex(40)
    extra = {"structured_outputs": {"disable_fallback": True}, "top_k": 5}
    with FakeOpenAIServer(prefer_quality) as server:
        KnockoutSelector(make(server.api_base, verdict_regex=regex, extra_body=extra), seed=0).select("q", TEXTS)
    (body,) = server.requests
    assert body["structured_outputs"] == {"disable_fallback": True, "regex": regex}
    assert body["top_k"] == 5 and extra == {"structured_outputs": {"disable_fallback": True}, "top_k": 5}


@pytest.mark.parametrize("make", JUDGES)
@pytest.mark.parametrize("key", ["temperature", "max_tokens", "n", "top_p", "messages", "max_completion_tokens"])
def test_keys_a_named_option_owns_are_refused_in_extra_body(make: Any, key: str) -> None:
    with pytest.raises(InvalidArgumentError, match=rf"cannot be in extra_body: \['{key}'\]"):
        make("http://127.0.0.1:9/v1", extra_body={key: 1})


@pytest.mark.parametrize("key", ["n", "num_retries", "stream", "messages", "prompt"])
@pytest.mark.parametrize("servers", [1, 2], ids=["one server", "fleet"])
def test_litellm_arguments_the_judge_sets_are_refused_for_one_server_and_for_fleets(key: str, servers: int) -> None:
    bases = [f"http://127.0.0.1:{9 + i}/v1" for i in range(servers)]
    with pytest.raises(InvalidArgumentError, match=rf"cannot be passed through: \['{key}'\]"):
        LiteLLMJudge("hosted_vllm/judge", api_base=bases[0] if servers == 1 else bases, **{key: 1})


@pytest.mark.parametrize("make", JUDGES)
def test_a_regex_given_twice_is_refused(make: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="either as verdict_regex or in extra_body"):
        make("http://127.0.0.1:9/v1", verdict_regex="a", extra_body={"structured_outputs": {"regex": "b"}})


# Fingerprints written by rrm_select before the transports existed: caches made then stay valid.
# Changed on purpose with the reference verdict rule (rrm-2, the default): those caches hold votes
# parsed by the lenient rule (rrm-1), so they stay valid for RRMFormat(verdict_rule="lenient")
# only, and a default judge's fingerprint differs from them by its format version alone.
OLD_FINGERPRINTS = {
    "litellm": '{"backend": "litellm", "format": "rrm-1", "litellm_kwargs": {}, "max_tokens": 8192, '
    '"model": "hosted_vllm/m", "temperature": 0.6, "top_p": 1.0}',
    "litellm_regex": '{"backend": "litellm", "format": "rrm-1", "litellm_kwargs": {"extra_body": '
    '{"structured_outputs": {"regex": "x"}}}, "max_tokens": 8192, "model": "hosted_vllm/m", '
    '"temperature": 0.3, "top_p": 1.0}',
    "litellm_fleet": '{"backend": "litellm", "format": "rrm-1", "litellm_kwargs": {}, "max_tokens": 8192, '
    '"model": "hosted_vllm/m", "temperature": 0.6, "top_p": 1.0}',
    "http_regex": '{"backend": "http", "extra_body": {"structured_outputs": {"regex": "x"}, "top_k": 20}, '
    '"format": "rrm-1", "max_tokens": 100, "model": "m", "temperature": 0.6, "top_p": 1.0}',
    "http_cut": '{"backend": "http", "extra_body": {}, "format": "rrm-1+ends1000", "max_tokens": 8192, '
    '"model": "m", "temperature": 0.6, "top_p": 1.0}',
}


@pytest.mark.parametrize("rule", ["lenient", "reference"])
def test_cache_fingerprints_of_unchanged_settings_are_unchanged(rule: VerdictRule) -> None:
    base = "http://127.0.0.1:8000/v1"
    whole, cut = RRMFormat(verdict_rule=rule), RRMFormat(verdict_rule=rule, max_text_chars=1000)
    judges = {
        "litellm": LiteLLMJudge("hosted_vllm/m", api_base=base, format=whole),
        "litellm_regex": LiteLLMJudge("hosted_vllm/m", api_base=base, verdict_regex="x", temperature=0.3, format=whole),
        "litellm_fleet": LiteLLMJudge("hosted_vllm/m", api_base=[base, "http://127.0.0.1:8001/v1"], format=whole),
        "http_regex": HTTPJudge(
            "m", api_base=base, verdict_regex="x", extra_body={"top_k": 20}, max_tokens=100, format=whole
        ),
        "http_cut": HTTPJudge("m", api_base=base, format=cut),
    }
    expected = OLD_FINGERPRINTS
    if rule == "reference":
        expected = {name: old.replace('"rrm-1', '"rrm-2') for name, old in OLD_FINGERPRINTS.items()}
        assert LiteLLMJudge("hosted_vllm/m", api_base=base).fingerprint == expected["litellm"]  # the default
    assert {name: judge.fingerprint for name, judge in judges.items()} == expected


# --- one reply parser, two endpoints -----------------------------------------------------------


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_is_read_from_either_field(field: str) -> None:
    from rrm_select.judges.reply import samples_of
    from rrm_select.judges.transport import EndpointReply

    body = {
        "choices": [{"message": {"content": "\\boxed{Assistant 2}", field: "why"}, "finish_reason": "stop"}] * 2,
        "usage": {"prompt_tokens": 7, "completion_tokens": 9},
    }
    first, second = samples_of(EndpointReply(body, latency_s=0.5, cost_usd=0.2))
    assert first.reasoning == second.reasoning == "why" and first.content == "\\boxed{Assistant 2}"
    assert (first.prompt_tokens, second.prompt_tokens) == (4, 3) and first.completion_tokens + second.completion_tokens == 9
    assert first.cost_usd == pytest.approx(0.1) and first.latency_s == 0.5


@pytest.mark.parametrize(
    "transport",
    [
        pytest.param(lambda base: AiohttpTransport("judge", base), id="aiohttp"),
        pytest.param(lambda base: LiteLLMTransport("hosted_vllm/judge", base, "EMPTY"), id="litellm"),
    ],
)
def test_transports_reach_the_completions_endpoint(transport: Any) -> None:
    from rrm_select.judges.reply import samples_of

    def text(body: dict[str, Any]) -> Reply:
        return Reply(choices=[Choice(f"{body['prompt']} continued", finish_reason="length")])

    request = EndpointRequest("completions", {"prompt": "<think>so far", "n": 1, "max_tokens": 8}, {"top_k": 2}, 5.0)
    with FakeOpenAIServer(text) as server:
        (sample,) = samples_of(asyncio.run(transport(server.api_base).send(request)))
    assert server.paths == ["/v1/completions"] and server.requests[0]["top_k"] == 2
    assert sample.content == "<think>so far continued" and sample.finish_reason == "length"


# --- errors carry data -------------------------------------------------------------------------


@pytest.mark.parametrize("make", JUDGES)
def test_an_unreachable_endpoint_is_could_not_connect_with_no_status(make: Any) -> None:
    judge = make("http://127.0.0.1:9/v1", retry=FAST)
    with pytest.raises(JudgeUnavailableError, match="could not connect") as caught:
        KnockoutSelector(judge, seed=0).select("q", TEXTS)
    error = caught.value
    assert error.status is None and error.attempts == 3 and error.retry_after_s is None
    assert error.judge == judge.name and error.endpoint == "http://127.0.0.1:9/v1"
    assert "HTTP 500" not in str(error) and "InternalServerError (HTTP" not in str(error)


@pytest.mark.parametrize("make", JUDGES)
def test_errors_carry_status_retry_after_and_attempts(make: Any) -> None:
    def busy(body: dict[str, Any]) -> Reply:
        return Reply(status=429, headers={"Retry-After": "0.01"}, error="slow down")

    with FakeOpenAIServer(busy) as server, pytest.raises(JudgeUnavailableError) as caught:
        KnockoutSelector(make(server.api_base, retry=FAST), seed=0).select("q", TEXTS)
    assert (caught.value.status, caught.value.retry_after_s, caught.value.attempts) == (429, 0.01, 3)
    assert len(server.requests) == 3

    def refuses(body: dict[str, Any]) -> Reply:
        return Reply(status=401, error=f"bad key {KEY}")

    with FakeOpenAIServer(refuses) as server, pytest.raises(JudgeRejectedError) as refused:
        KnockoutSelector(make(server.api_base, retry=FAST), seed=0).select("q", TEXTS)
    assert (refused.value.status, refused.value.attempts) == (401, 1)
    assert KEY not in str(refused.value) and "***" in str(refused.value)


@pytest.mark.parametrize(
    "error",
    [
        JudgeUnavailableError("down", judge="j at u", endpoint="u", attempts=6, status=503, retry_after_s=2.0),
        JudgeRejectedError("no", judge="j", endpoint="u", attempts=1, status=400),
        DeadlineExceededError("late", judge="j"),
        JudgeError("plain"),
        BudgetExhaustedError("spent"),
        InvalidArgumentError("bad"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_every_error_survives_pickling_whole(error: Exception) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)
    if isinstance(error, JudgeError):
        assert isinstance(copy, JudgeError) and copy.details == error.details


def test_a_real_failure_pickles_with_its_data() -> None:
    with pytest.raises(JudgeUnavailableError) as caught:
        KnockoutSelector(http_judge("http://127.0.0.1:9/v1", retry=FAST), seed=0).select("q", TEXTS)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert copy.details == caught.value.details and copy.attempts == 3


# --- the pooled aiohttp session ------------------------------------------------------------------


def test_http_judge_reuses_connections_and_opens_no_more_than_max_concurrency() -> None:
    texts = [f"answer {i}, quality {i}" for i in range(16)]
    with FakeOpenAIServer(prefer_quality) as server:
        judge = http_judge(server.api_base, max_concurrency=4)
        KnockoutSelector(judge, seed=0).select("q", texts)
        KnockoutSelector(judge, seed=1).select("q", texts)
        judge.close()
    assert len(server.requests) == 30
    assert server.connections_opened <= 4 and server.max_in_flight <= 4


def test_sessions_never_outlive_their_loop_and_close_releases_them() -> None:
    # A program calling asyncio.run many times, then the sync API, then close(): no session is
    # left open (aiohttp warns "Unclosed client session" on stderr for any that is).
    script = textwrap.dedent(
        f"""
        import asyncio, gc, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import prefer_quality
        from fake_openai import FakeOpenAIServer
        from rrm_select import HTTPJudge, KnockoutSelector

        with FakeOpenAIServer(prefer_quality) as server:
            judge = HTTPJudge("judge", api_base=server.api_base)
            selector = KnockoutSelector(judge, seed=0)
            for _ in range(3):
                asyncio.run(selector.aselect("q", ["a, quality 1", "b, quality 2"]))
                assert not judge.transport._pools, "a session outlived asyncio.run"
            selector.select("q", ["a, quality 1", "b, quality 2"])
            assert len(judge.transport._pools) == 1
            judge.close()
            assert not judge.transport._pools, "close() left a session open"
            gc.collect()
        print("connections", server.connections_opened, "requests", len(server.requests))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.split() == ["connections", "4", "requests", "4"]


def test_close_forgets_a_loop_closed_without_shutting_down_and_a_forked_child_forgets_its_parent() -> None:
    with FakeOpenAIServer(prefer_quality) as server:
        judge = http_judge(server.api_base)
        loop = asyncio.new_event_loop()
        loop.run_until_complete(KnockoutSelector(judge, seed=0).aselect("q", TEXTS))
        loop.close()  # without cancelling the session's keeper: nothing can close it there now
        assert len(judge.transport._pools) == 1
        judge.close()
        assert not judge.transport._pools
        KnockoutSelector(judge, seed=0).select("q", TEXTS)  # a session on the shared loop
        reader, writer = os.pipe()
        child = os.fork()
        if child == 0:  # the child inherits the parent's session, which nothing runs here
            started = time.monotonic()
            judge.close()
            ok = not judge.transport._pools and time.monotonic() - started < 1
            os.write(writer, b"1" if ok else b"0")
            os._exit(0)
        os.waitpid(child, 0)
        assert os.read(reader, 1) == b"1"
        assert len(judge.transport._pools) == 1  # the parent's own session is untouched
        judge.close()


def test_a_user_transport_plugs_into_the_endpoint_judge() -> None:
    class Recorded(AiohttpTransport):
        kind = "recorded"

        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.sent: list[EndpointRequest] = []

        async def send(self, request: EndpointRequest) -> Any:
            self.sent.append(request)
            return await super().send(request)

    with FakeOpenAIServer(prefer_quality) as server:
        transport = Recorded("judge", server.api_base)
        result = KnockoutSelector(EndpointJudge(transport, max_tokens=32), seed=0).select("q", TEXTS)
    assert result.best_index == 1 and [r.path for r in transport.sent] == ["chat/completions"]
    assert transport.sent[0].body["max_tokens"] == 32
    assert json.loads(result.matches[0].votes[0].model_dump_json())["verdict"] in (1, 2)
