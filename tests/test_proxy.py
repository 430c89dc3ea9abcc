"""Best-of-N behind the real litellm proxy, started with examples/litellm_proxy.yaml and called with
the official openai client (sync, async, streaming) and with curl. One loopback server plays the
generator and the judge; the judge's settings come from the proxy's environment."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fake_openai import Choice, FakeOpenAIServer, Reply, prompt_text
from proxy_support import MASTER_KEY, LiteLLMProxy
from test_litellm_provider import ARGUMENTS, TOOLS, tool_script
from test_readme import section
from test_wrappers import QUALITIES, is_judge, make_script

JUDGE_KEY = "sk-judge-secret-4711"
GENERATOR_KEY = "sk-generator-secret-0815"
BEST = "answer with quality 8"


def script(body: dict[str, Any]) -> Reply:
    """Judge: the better candidate. Generator: n candidates of QUALITIES; a user message naming a
    fault gets it (from the generator, or from the judge for every vote)."""
    asked = prompt_text(body)
    if is_judge(body):
        return Reply(status=503, error="judge overloaded") if "JUDGE DOWN" in asked else make_script()(body)
    if "GENERATOR 429" in asked:
        return Reply(status=429, error="generator rate limit")
    if body.get("tools"):
        return tool_script(body)
    return Reply(choices=[Choice(f"answer with quality {QUALITIES[i % len(QUALITIES)]}") for i in range(body["n"])])


@pytest.fixture(scope="module")
def backends() -> Iterator[tuple[FakeOpenAIServer, FakeOpenAIServer]]:
    """The generator-and-judge server, and a server a hostile request would like the judge to use."""
    with FakeOpenAIServer(script) as server, FakeOpenAIServer(make_script()) as elsewhere:
        yield server, elsewhere


@pytest.fixture(scope="module")
def proxy(backends: tuple[FakeOpenAIServer, FakeOpenAIServer]) -> Iterator[LiteLLMProxy]:
    server, _ = backends
    env = {"GENERATOR_MODEL": "hosted_vllm/generator", "GENERATOR_API_BASE": server.api_base,
           "GENERATOR_API_KEY": GENERATOR_KEY, "RRM_SELECT_MODEL": "hosted_vllm/judge",
           "RRM_SELECT_API_BASE": server.api_base, "RRM_API_KEY": JUDGE_KEY, "RRM_SELECT_MAX_ATTEMPTS": "2"}  # fmt: skip
    with LiteLLMProxy(env=env) as running:
        yield running
    assert running.process.returncode is not None  # stopped
    log = running.output()
    assert JUDGE_KEY not in log and GENERATOR_KEY not in log


def client(proxy: LiteLLMProxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.api_base, api_key=MASTER_KEY, max_retries=0)


def ask(text: str = "Tell me something good.") -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_the_openai_client_gets_the_candidate_the_judge_prefers(
    proxy: LiteLLMProxy, backends: tuple[FakeOpenAIServer, FakeOpenAIServer]
) -> None:
    server, _ = backends
    before = len(server.requests)
    response = client(proxy).chat.completions.create(model="best-of-4", messages=ask("sync question"))
    assert [c.message.content for c in response.choices] == [BEST]
    new = server.requests[before:]
    generation = [r for r in new if not is_judge(r)]
    assert len(generation) == 1 and generation[0]["n"] == 4 and generation[0]["model"] == "generator"
    assert len([r for r in new if is_judge(r)]) == 3  # a knockout of 4
    assert f"Bearer {GENERATOR_KEY}" in server.authorizations and f"Bearer {JUDGE_KEY}" in server.authorizations
    assert response.usage.total_tokens > 0


def test_fifty_concurrent_async_requests_all_succeed(proxy: LiteLLMProxy) -> None:
    async def main() -> list[str | None]:
        async with openai.AsyncOpenAI(base_url=proxy.api_base, api_key=MASTER_KEY, max_retries=0) as aclient:
            responses = await asyncio.gather(*(
                aclient.chat.completions.create(model="best-of-4", messages=ask(f"question {i}")) for i in range(50)
            ))  # fmt: skip
        return [r.choices[0].message.content for r in responses]

    assert asyncio.run(main()) == [BEST] * 50


def test_a_stream_is_the_winner_ending_with_usage(proxy: LiteLLMProxy) -> None:
    stream = client(proxy).chat.completions.create(model="best-of-4", messages=ask("stream please"), stream=True,
                                                   stream_options={"include_usage": True})  # fmt: skip
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == BEST
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_a_winning_tool_call_comes_back_whole_and_streams_as_several_calls(
    proxy: LiteLLMProxy, backends: tuple[FakeOpenAIServer, FakeOpenAIServer]
) -> None:
    sent = {"model": "best-of-4", "messages": ask("weather?"), "tools": TOOLS, "response_format": {"type": "json_object"}}
    response = client(proxy).chat.completions.create(**sent)  # type: ignore[call-overload]
    calls = response.choices[0].message.tool_calls
    assert [(c.function.name, c.function.arguments) for c in calls] == [("get_weather", ARGUMENTS), ("get_time", "{}")]
    assert response.choices[0].finish_reason == "tool_calls"
    chunks = list(client(proxy).chat.completions.create(**sent, stream=True))  # type: ignore[call-overload]
    deltas = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
    assert [(d.index, d.function.name, d.function.arguments) for d in deltas] == [
        (0, "get_weather", ARGUMENTS), (1, "get_time", "{}")]  # fmt: skip
    generated = [r for r in backends[0].requests if r.get("tools")]
    assert generated and all(r["response_format"] == {"type": "json_object"} for r in generated)


def test_a_request_sets_selection_keys_and_asks_for_a_trace(proxy: LiteLLMProxy) -> None:
    response = client(proxy).chat.completions.create(
        model="best-of-4", messages=ask("traced"), extra_body={"rrm_select": {"votes": 3, "trace": True}}
    )
    trace = response.model_extra["rrm_select"]
    assert trace["winner"] in range(4) and [len(m["votes"]) for m in trace["matches"]] == [3, 3, 3]
    assert trace["settings"]["votes"] == "call" and trace["settings"]["method"] == "config"
    assert trace["settings"]["model"] == "environment" and trace["settings"]["order"] == "default"
    assert trace["usage"]["votes"] == 9


@pytest.mark.parametrize(
    "extra",
    [{"rrm_select": {"api_base": "ELSEWHERE", "model": "hosted_vllm/judge"}},
     {"rrm_select": {"api_key_env": "LITELLM_MASTER_KEY"}},
     {"rrm_select_defaults": {"api_base": "ELSEWHERE"}}],
)  # fmt: skip
def test_a_request_cannot_point_the_judge_elsewhere(
    proxy: LiteLLMProxy, backends: tuple[FakeOpenAIServer, FakeOpenAIServer], extra: dict[str, Any]
) -> None:
    _, elsewhere = backends
    body = json.loads(json.dumps(extra).replace("ELSEWHERE", elsewhere.api_base))
    with pytest.raises(openai.BadRequestError) as refused:
        client(proxy).chat.completions.create(model="best-of-4", messages=ask("hostile"), extra_body=body)
    assert refused.value.status_code == 400 and "rrm_select" in str(refused.value)
    assert elsewhere.requests == [] and elsewhere.authorizations == []


def test_a_bad_setting_is_a_400_naming_it(proxy: LiteLLMProxy) -> None:
    with pytest.raises(openai.BadRequestError, match="'votes'") as refused:
        client(proxy).chat.completions.create(model="best-of-4", messages=ask("bad"),
                                              extra_body={"rrm_select": {"votes": "lots"}})  # fmt: skip
    assert refused.value.status_code == 400


def test_a_stream_that_cannot_start_is_an_error_status_not_a_broken_stream(proxy: LiteLLMProxy) -> None:
    # The selection runs before the first chunk, so its failure is still the response's status.
    with pytest.raises(openai.BadRequestError, match="'votes'"):
        stream = client(proxy).chat.completions.create(model="best-of-4", messages=ask("bad stream"), stream=True,
                                                       extra_body={"rrm_select": {"votes": "lots"}})  # fmt: skip
        list(stream)


def test_a_judge_that_stays_down_is_a_503_naming_it(proxy: LiteLLMProxy) -> None:
    with pytest.raises(openai.APIStatusError) as failed:
        client(proxy).chat.completions.create(model="best-of-4", messages=ask("JUDGE DOWN now"))
    message = str(failed.value)
    assert failed.value.status_code == 503 and "hosted_vllm/judge" in message
    assert "Traceback" not in message and JUDGE_KEY not in message


def test_a_generator_failure_keeps_its_status(proxy: LiteLLMProxy) -> None:
    with pytest.raises(openai.RateLimitError) as failed:
        client(proxy).chat.completions.create(model="best-of-4", messages=ask("GENERATOR 429 now"))
    assert failed.value.status_code == 429 and GENERATOR_KEY not in str(failed.value)


def readme_block(language: str, containing: str) -> str:
    """The README's code block (in "Use it from any app") that contains `containing`, aimed at
    the test's proxy."""
    (block,) = [b for b in re.findall(rf"```{language}\n(.*?)```", section("Use it from any app"), re.DOTALL)
                if containing in b]  # fmt: skip
    return block


def run_readme_block(proxy: LiteLLMProxy, command: list[str], block: str) -> str:
    aimed = block.replace("http://127.0.0.1:4000", f"http://127.0.0.1:{proxy.port}")
    done = subprocess.run([*command, aimed], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "LITELLM_MASTER_KEY": MASTER_KEY})  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_readme_curl_request(proxy: LiteLLMProxy) -> None:
    answer = json.loads(run_readme_block(proxy, ["bash", "-c"], readme_block("bash", "curl")))
    assert answer["choices"][0]["message"]["content"] == BEST


def test_the_readme_openai_client_request(proxy: LiteLLMProxy) -> None:
    printed = run_readme_block(proxy, [sys.executable, "-c"], readme_block("python", "OpenAI(")).splitlines()
    assert printed[0] == BEST
    assert printed[1].startswith("[{") and "'votes': [" in printed[1]
