"""LiteLLMJudge over several judge servers (loopback fakes): balance, limits, failover, cache keys."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from conftest import prefer_quality as perfect_judge
from conftest import quality
from fake_openai import FakeOpenAIServer, Reply

from rrm_select import (
    InvalidArgumentError,
    JudgeRejectedError,
    JudgeUnavailableError,
    JudgmentCache,
    KnockoutSelector,
    LiteLLMJudge,
    RetryPolicy,
)
from rrm_select.judges.litellm_transport import import_litellm

KEY = "sk-fleet-secret-42"
FAST = RetryPolicy(max_attempts=6, initial_backoff_s=0.01, max_backoff_s=0.1)


def prefer_quality(body: dict[str, Any]) -> Reply:
    time.sleep(0.01)  # long enough for requests to overlap, so limits and balance show
    return perfect_judge(body)


class StoppableServer(FakeOpenAIServer):
    """A fake server that can die mid-run: `stop()` closes the listening socket and cuts every
    open connection (keep-alive ones included), as a crashed judge server would."""

    def __init__(self, script: Any) -> None:
        super().__init__(script)
        self.connections: set[socket.socket] = set()
        self.handled_at_stop: int | None = None
        self._httpd.handle_error = lambda *args: None  # type: ignore[method-assign]  # cut sockets are expected

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler()
        server = self

        class Tracked(base):  # type: ignore[valid-type, misc]
            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server.connections.add(self.connection)

            def finish(self) -> None:
                with server._lock:
                    server.connections.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

        return Tracked

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            for connection in self.connections:
                connection.shutdown(socket.SHUT_RDWR)
        while True:  # every handler has finished: nothing can be recorded after this point
            with self._lock:
                if not self.connections:
                    self.handled_at_stop = len(self.requests)
                    return
            time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        if self.handled_at_stop is None:
            super().__exit__(*exc)


def rows(count: int) -> list[tuple[str, list[str]]]:
    return [
        (f"question {i}", [f"answer {j} quality {(i * 7 + j * 5) % 11}.{j}" for j in range(8)]) for i in range(count)
    ]


def test_a_server_that_dies_mid_run_is_left_out_and_every_selection_completes() -> None:
    servers = [StoppableServer(prefer_quality).__enter__() for _ in range(3)]
    try:
        judge = LiteLLMJudge("hosted_vllm/judge", api_base=[s.api_base for s in servers], api_key=KEY,
                             max_concurrency=2, retry=FAST)  # fmt: skip
        selector = KnockoutSelector(judge, seed=3)
        work = rows(40)  # 40 x 7 matches
        results: list[Any] = []
        run = threading.Thread(target=lambda: results.extend(selector.select_many(*zip(*work, strict=True))))
        run.start()
        while run.is_alive() and sum(len(s.requests) for s in servers) < 60:  # a run that failed ends the wait
            time.sleep(0.005)
        servers[1].stop()
        after_stop = [len(s.requests) for s in servers]
        run.join(timeout=120)
        assert not run.is_alive()
    finally:
        for server in servers:
            server.__exit__()
    assert len(results) == len(work)
    for (_, candidates), result in zip(work, results, strict=True):
        assert quality(result.best) == max(quality(c) for c in candidates)
    handled = [len(s.requests) for s in servers]
    assert handled[1] == servers[1].handled_at_stop == after_stop[1] > 0  # nothing reached it after the stop
    assert handled[0] > after_stop[0] and handled[2] > after_stop[2]  # the other two took the rest
    assert all(s.max_in_flight <= 2 for s in servers)  # per-server limit held throughout
    retries = sum(r.usage.retries for r in results)
    # One successful request per match; every failed attempt (cut mid-request, or refused before
    # the router put the server in cooldown) was retried elsewhere. Requests queued for the dead
    # server moved to live ones instead of failing there one by one (that cost about 40 retries).
    assert sum(r.usage.requests for r in results) == 40 * 7 + retries
    assert 1 <= retries <= 10


def test_requests_are_spread_over_the_fleet_within_each_servers_limit() -> None:
    with FakeOpenAIServer(prefer_quality) as a, FakeOpenAIServer(prefer_quality) as b:
        judge = LiteLLMJudge("hosted_vllm/judge", api_base=[a.api_base, b.api_base], api_key=KEY, max_concurrency=3)
        results = KnockoutSelector(judge, seed=0).select_many(*zip(*rows(12), strict=True))
    assert len(a.requests) + len(b.requests) == 12 * 7
    assert a.max_in_flight == b.max_in_flight == 3  # each server saturated, never past its limit
    assert min(len(a.requests), len(b.requests)) >= 12 * 7 // 4  # both did a real share
    assert all(r.usage.retries == 0 for r in results)


def test_a_router_fleet_takes_its_limits_and_keys_from_the_router() -> None:
    def refuse(body: dict[str, Any]) -> Reply:
        return Reply(status=401, error=f"Invalid API key {body['model']} sk-other-key-7")

    with FakeOpenAIServer(prefer_quality) as good, FakeOpenAIServer(refuse) as bad:
        model_list = [
            {"model_name": "rrm", "litellm_params": {"model": "hosted_vllm/judge", "api_base": good.api_base,
                                                     "api_key": KEY, "max_parallel_requests": 1}},
        ]  # fmt: skip
        router = import_litellm().Router(model_list=model_list, num_retries=0)
        judge = LiteLLMJudge("rrm", router=router, max_concurrency=8)
        KnockoutSelector(judge, seed=0).select_many(*zip(*rows(4), strict=True))
        assert good.max_in_flight == 1 and len(good.requests) == 4 * 7
        # the settings (the judgment cache key) are the model's, not the router group's name
        assert judge.fingerprint == LiteLLMJudge("hosted_vllm/judge", api_base=good.api_base).fingerprint

        other = {"model_name": "rrm", "litellm_params": {"model": "hosted_vllm/judge", "api_base": bad.api_base,
                                                         "api_key": "sk-other-key-7"}}  # fmt: skip
        refused = LiteLLMJudge("rrm", router=import_litellm().Router(model_list=[other], num_retries=0), retry=FAST)
        with pytest.raises(JudgeRejectedError) as info:
            KnockoutSelector(refused, seed=0).select("q", ["a 1", "b 2"])
    message = str(info.value)
    assert "AuthenticationError" in message and bad.api_base in message
    assert "sk-other-key-7" not in message and "***" in message
    assert "LiteLLM: model group" not in message  # the router's fallback paragraph is dropped
    assert len(bad.requests) == 1  # permanent: not retried, not failed over


def test_a_fleet_of_one_model_shares_judgments_with_a_single_server(tmp_path: Any) -> None:
    cache = JudgmentCache(tmp_path / "cache.sqlite")
    with FakeOpenAIServer(prefer_quality) as a, FakeOpenAIServer(prefer_quality) as b:
        single = LiteLLMJudge("hosted_vllm/judge", api_base=a.api_base)
        fleet = LiteLLMJudge("hosted_vllm/judge", api_base=[a.api_base, b.api_base])
        assert single.fingerprint == fleet.fingerprint
        single.cache = fleet.cache = cache
        first = KnockoutSelector(single, seed=1).select_many(*zip(*rows(3), strict=True))
        paid = len(a.requests)
        again = KnockoutSelector(fleet, seed=1).select_many(*zip(*rows(3), strict=True))
        assert len(a.requests) == paid and b.requests == []  # every vote came from the cache
    assert [r.best_index for r in again] == [r.best_index for r in first]
    assert all(r.usage.cached_votes == r.usage.votes == 7 for r in again)
    mixed = [{"model_name": "rrm", "litellm_params": {"model": m, "api_base": a.api_base}}
             for m in ("hosted_vllm/judge", "hosted_vllm/other")]  # fmt: skip
    mixed_judge = LiteLLMJudge("rrm", router=import_litellm().Router(model_list=mixed, num_retries=0))
    assert mixed_judge.fingerprint != single.fingerprint  # votes from a mix of models are another judge's


def test_every_server_down_is_one_clear_error() -> None:
    ports = []
    for _ in range(2):
        with socket.socket() as s:  # ports nobody listens on
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    judge = LiteLLMJudge("hosted_vllm/judge", api_base=[f"http://127.0.0.1:{p}/v1" for p in ports], api_key=KEY,
                         retry=RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.02))  # fmt: skip
    with pytest.raises(JudgeUnavailableError, match="failed 3 attempt") as info:
        KnockoutSelector(judge, seed=0).select("q", ["a 1", "b 2"])
    assert "2 servers" in str(info.value) and KEY not in str(info.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"api_base": []}, "api_base is an empty list"),
        ({"api_base": ["http://127.0.0.1:9/v1"] * 2}, "lists a server twice"),
        ({"api_base": "http://127.0.0.1:9/v1", "router": object()}, "not both"),
    ],
)
def test_invalid_fleets(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        LiteLLMJudge("hosted_vllm/judge", **options)


def test_a_router_without_the_model_is_refused() -> None:
    router = import_litellm().Router(
        model_list=[{"model_name": "other", "litellm_params": {"model": "hosted_vllm/x", "api_base": "http://x/v1"}}]
    )
    with pytest.raises(InvalidArgumentError, match="no deployments for model 'rrm'"):
        LiteLLMJudge("rrm", router=router)


def test_the_cli_takes_a_fleet_as_repeated_api_bases(tmp_path: Any) -> None:
    import json

    from rrm_select.cli import main

    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(json.dumps({"id": i, "prompt": q, "responses": c}) + "\n" for i, (q, c) in enumerate(rows(8)))
    )
    with FakeOpenAIServer(prefer_quality) as a, FakeOpenAIServer(prefer_quality) as b:
        argv = ["filter", str(source), "-o", str(tmp_path / "out.jsonl"), "--no-cache", "--model", "hosted_vllm/judge",
                "--api-base", a.api_base, "--api-base", b.api_base, "--concurrency", "2"]  # fmt: skip
        assert main(argv) == 0
    assert len(a.requests) + len(b.requests) == 8 * 7 and a.requests and b.requests
    assert a.max_in_flight <= 2 and b.max_in_flight <= 2
    written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [quality(r["chosen"]) for r in written] == [max(quality(c) for c in cands) for _, cands in rows(8)]
