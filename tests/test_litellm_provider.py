"""The litellm provider through litellm's own SDK, over real HTTP: one loopback server plays the
generator (plain chat requests) and the judge (RRM prompts). The proxy is tested in test_proxy.py."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from typing import Any

import litellm
import pytest
from fake_openai import Choice, FakeOpenAIServer, Reply
from test_readme import section
from test_wrappers import MESSAGES, is_judge, make_script

import rrm_select
from rrm_select import generation_usage_of, selection_of
from rrm_select.litellm_provider import PROVIDER


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in __import__("os").environ if n.startswith("RRM_SELECT_")]:
        monkeypatch.delenv(name)
    rrm_select.register_litellm()


def judge_settings(server: FakeOpenAIServer, **more: Any) -> dict[str, Any]:
    return {"model": "hosted_vllm/judge", "api_base": server.api_base, **more}


def generation(server: FakeOpenAIServer) -> list[dict[str, Any]]:
    return [r for r in server.requests if not is_judge(r)]


def test_register_is_idempotent_and_a_model_name_gives_the_best_of_n() -> None:
    rrm_select.register_litellm()
    assert [e["provider"] for e in litellm.custom_provider_map].count(PROVIDER) == 1
    with FakeOpenAIServer(make_script()) as server:
        response = litellm.completion(model="rrm_select/hosted_vllm/generator", messages=MESSAGES, n=4,
                                      api_base=server.api_base, api_key="k", temperature=0.3,
                                      rrm_select=judge_settings(server))  # fmt: skip
    (request,) = generation(server)
    assert request["n"] == 4 and request["temperature"] == 0.3 and request["model"] == "generator"
    assert {r["temperature"] for r in server.requests if is_judge(r)} == {0.6}  # the judge's own
    assert [c.message.content for c in response.choices] == ["answer with quality 8"]
    selection = selection_of(response)
    assert len(selection.matches) == 3
    gen = generation_usage_of(response)
    assert response.usage.prompt_tokens == gen.prompt_tokens + selection.usage.prompt_tokens
    assert response.usage.completion_tokens == gen.completion_tokens + selection.usage.completion_tokens


def test_acompletion_with_the_settings_in_extra_body() -> None:
    with FakeOpenAIServer(make_script()) as server:
        response = asyncio.run(litellm.acompletion(model="rrm_select/hosted_vllm/generator", messages=MESSAGES,
                                                   n=3, api_base=server.api_base, api_key="k",
                                                   extra_body={"rrm_select": judge_settings(server)}))  # fmt: skip
    assert response.choices[0].message.content == "answer with quality 8"
    assert "rrm_select" not in generation(server)[0]  # the settings are not sent to the generator


def test_settings_merge_key_by_key_and_the_selection_records_each_source(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAIServer(make_script()) as server:
        monkeypatch.setenv("RRM_SELECT_MODEL", "hosted_vllm/judge")
        monkeypatch.setenv("RRM_SELECT_API_BASE", server.api_base)
        monkeypatch.setenv("RRM_SELECT_VOTES", "5")
        monkeypatch.setenv("RRM_SELECT_SEED", "9")
        # rrm_select_defaults is what a proxy config's litellm_params hands the call.
        response = litellm.completion(model="rrm_select/hosted_vllm/generator", messages=MESSAGES, n=2,
                                      api_base=server.api_base, rrm_select={"votes": 3},
                                      rrm_select_defaults={"votes": 2, "seed": 4, "method": "elo"})  # fmt: skip
    settings = selection_of(response).settings
    assert settings is not None
    assert settings["votes"] == {"value": 3, "source": "call"}
    assert settings["seed"] == {"value": 4, "source": "config"}
    assert settings["method"] == {"value": "elo", "source": "config"}
    assert settings["api_base"] == {"value": server.api_base, "source": "environment"}
    assert settings["early_stop"] == {"value": "off", "source": "default"}
    selection = selection_of(response)
    assert selection.method == "elo" and selection.seed == 4
    assert all(len(m.votes) == 3 for m in selection.matches)


@pytest.mark.parametrize(
    ("settings", "named"),
    [({"vote": 3}, "unknown rrm_select setting (from the call) 'vote' (did you mean 'votes'?)"),
     ({"votes": "many"}, "'votes'"), ({"method": "bracket"}, "'method'")],
)  # fmt: skip
def test_a_bad_setting_is_a_400_naming_it(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(litellm.BadRequestError) as failed:
        litellm.completion(model="rrm_select/hosted_vllm/generator", messages=MESSAGES, n=2,
                           api_base="http://127.0.0.1:9/v1", rrm_select={"model": "hosted_vllm/judge", **settings})  # fmt: skip
    assert failed.value.status_code == 400 and named in str(failed.value)


def test_a_judge_that_stays_down_is_a_503_naming_it_without_its_key() -> None:
    def script(body: dict[str, Any]) -> Reply:
        return Reply(status=503, error="overloaded") if is_judge(body) else make_script()(body)

    with FakeOpenAIServer(script) as server:
        with pytest.raises(litellm.ServiceUnavailableError) as failed:
            litellm.completion(model="rrm_select/hosted_vllm/generator", messages=MESSAGES, n=2,
                               api_base=server.api_base, api_key="sk-generator-secret",
                               rrm_select=judge_settings(server, api_key="sk-judge-secret", max_attempts=2))  # fmt: skip
    message = str(failed.value)
    assert failed.value.status_code == 503 and "hosted_vllm/judge" in message and server.api_base in message
    assert "sk-judge-secret" not in message and "sk-generator-secret" not in message


def test_a_judge_that_refuses_is_a_502() -> None:
    def script(body: dict[str, Any]) -> Reply:
        return Reply(status=401, error="bad key") if is_judge(body) else make_script()(body)

    with FakeOpenAIServer(script) as server:
        with pytest.raises(litellm.BadGatewayError, match="the judge refused the request") as failed:
            litellm.completion(model="rrm_select/hosted_vllm/generator", messages=MESSAGES, n=2,
                               api_base=server.api_base, rrm_select=judge_settings(server, api_key="sk-wrong-key"))  # fmt: skip
    assert failed.value.status_code == 502 and "sk-wrong-key" not in str(failed.value)


def test_a_generator_failure_is_the_generators_error() -> None:
    def script(body: dict[str, Any]) -> Reply:
        return make_script()(body) if is_judge(body) else Reply(status=429, error="slow down")

    with FakeOpenAIServer(script) as server:
        with pytest.raises(litellm.RateLimitError) as failed:
            litellm.completion(model="rrm_select/hosted_vllm/generator", messages=MESSAGES, n=2, num_retries=0,
                               api_base=server.api_base, rrm_select=judge_settings(server))  # fmt: skip
    assert failed.value.status_code == 429
    assert not [r for r in server.requests if is_judge(r)]


TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
ARGUMENTS = '{"city":  "Oslo",\n "days": 2}'  # odd spacing: it must come back byte for byte


def tool_script(body: dict[str, Any]) -> Reply:
    if is_judge(body):
        return make_script()(body)
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": ARGUMENTS}}
    second = {"id": "c2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    return Reply(choices=[Choice("plain answer quality 1"),
                          Choice("", tool_calls=[call, second], finish_reason="tool_calls")])  # fmt: skip


def test_tool_calls_and_response_format_survive() -> None:
    with FakeOpenAIServer(tool_script) as server:
        response = litellm.completion(model="rrm_select/hosted_vllm/generator", messages=MESSAGES, n=2,
                                      api_base=server.api_base, tools=TOOLS, response_format={"type": "json_object"},
                                      rrm_select=judge_settings(server))  # fmt: skip
    (request,) = generation(server)
    assert request["tools"] == TOOLS and request["response_format"] == {"type": "json_object"}
    calls = response.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert calls[0].function.arguments == ARGUMENTS


def test_a_stream_is_the_winner_after_the_selection() -> None:
    with FakeOpenAIServer(tool_script) as server:
        chunks = list(litellm.completion(model="rrm_select/hosted_vllm/generator", messages=MESSAGES, n=2,
                                         api_base=server.api_base, tools=TOOLS, stream=True,
                                         stream_options={"include_usage": True},
                                         rrm_select=judge_settings(server)))  # fmt: skip
    assert "stream" not in generation(server)[0]  # candidates are generated whole
    rebuilt = litellm.stream_chunk_builder(chunks)
    calls = rebuilt.choices[0].message.tool_calls
    assert [(c.function.name, c.function.arguments) for c in calls] == [("get_weather", ARGUMENTS), ("get_time", "{}")]
    assert rebuilt.choices[0].finish_reason == "tool_calls"
    assert chunks[-1].usage.completion_tokens > 0  # generation and judging


def test_trace_puts_a_compact_trace_on_the_response() -> None:
    with FakeOpenAIServer(make_script()) as server:
        response = litellm.completion(model="rrm_select/hosted_vllm/generator", messages=MESSAGES, n=4,
                                      api_base=server.api_base, rrm_select=judge_settings(server, trace=True))  # fmt: skip
    trace = response.rrm_select
    selection = selection_of(response)
    assert trace["winner"] == selection.best_index and len(trace["matches"]) == 3
    assert trace["usage"]["votes"] == 3 and trace["settings"]["model"] == "call"


def test_a_generator_name_litellm_routes_elsewhere_and_the_workaround() -> None:
    with FakeOpenAIServer(make_script()) as server:
        # litellm sends any model containing "replicate" to Replicate before it looks at custom
        # providers: this never reaches rrm_select (nor the loopback generator).
        with pytest.raises(litellm.APIConnectionError):
            litellm.completion(model="rrm_select/hosted_vllm/replicate-llama", messages=MESSAGES, n=2,
                               api_base=server.api_base, api_key="k", rrm_select=judge_settings(server))  # fmt: skip
        assert server.requests == []
        # The workaround: any other model name, and the generator in the settings.
        response = litellm.completion(model="rrm_select/best-of-n", messages=MESSAGES, n=2, api_base=server.api_base,
                                      api_key="k", rrm_select=judge_settings(server, generator="hosted_vllm/replicate-llama"))  # fmt: skip
    assert generation(server)[0]["model"] == "replicate-llama"
    assert response.choices[0].message.content == "answer with quality 8"


def test_a_gateway_request_may_set_judge_settings_only_when_the_config_allows() -> None:
    # What the proxy adds to every call it makes (tested for real in test_proxy.py).
    gateway = {"proxy_server_request": {"url": "http://proxy/v1/chat/completions", "body": {}}}
    with FakeOpenAIServer(make_script()) as server:
        with pytest.raises(litellm.BadRequestError, match="may not set 'model'"):
            litellm.completion(model="rrm_select/hosted_vllm/generator", messages=MESSAGES, n=2,
                               api_base=server.api_base, rrm_select=judge_settings(server), **gateway)  # fmt: skip
        with pytest.raises(litellm.BadRequestError, match="may not set 'answer'"):
            litellm.completion(model="rrm_select/hosted_vllm/generator", messages=MESSAGES, n=2,
                               api_base=server.api_base, rrm_select={"answer": "regex:(a+)+$"},
                               rrm_select_defaults=judge_settings(server), **gateway)  # fmt: skip
        response = litellm.completion(model="rrm_select/hosted_vllm/generator", messages=MESSAGES, n=2,
                                      api_base=server.api_base, rrm_select=judge_settings(server),
                                      rrm_select_defaults={"requests_may_set_judge": True}, **gateway)  # fmt: skip
    assert response.choices[0].message.content == "answer with quality 8"


def test_the_readme_sdk_example() -> None:
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", section("Use it from any app"), re.DOTALL)
                if "register_litellm" in b]  # fmt: skip
    with FakeOpenAIServer(make_script()) as server:
        aimed = block.replace("http://127.0.0.1:8000/v1", server.api_base).replace("http://127.0.0.1:8001/v1",
                                                                                   server.api_base)  # fmt: skip
        done = subprocess.run([sys.executable, "-c", aimed], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["answer with quality 8", "{'value': 3, 'source': 'call'}"]
    assert [r.get("n") for r in generation(server)] == [4]
