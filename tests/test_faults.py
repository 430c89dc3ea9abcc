"""Fault injection over real HTTP: every kind of judge failure, alone and mixed at 20%, the judge
down for good, and the selection's budget and deadline holding while faults happen."""

from __future__ import annotations

import asyncio
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import by_quality, quality
from fake_openai import (
    CONTENT_FAULTS,
    DECOY_FAULTS,
    FAULTS,
    TRANSPORT_FAULTS,
    FakeOpenAIServer,
    FaultInjector,
    Reply,
    fault_reply,
    split_prompt,
)

from rrm_select import (
    DeadlineExceededError,
    HTTPJudge,
    JudgeUnavailableError,
    KnockoutSelector,
    LiteLLMJudge,
    RetryPolicy,
    ScriptedJudge,
)
from rrm_select.cli import main
from rrm_select.types import Selection

# Tiny backoff keeps the suite fast; attempts and resamples leave room for FaultInjector's
# at-most-2 faults per prompt, so every selection must get through.
POLICY = RetryPolicy(max_attempts=4, initial_backoff_s=0.001, max_backoff_s=0.01, resamples=2)
# A healthy reply takes milliseconds, but a busy shared CPU can stall the client's event loop for
# seconds: a generous timeout keeps healthy requests from timing out (an uninjected fault), and a
# "slow" reply hangs far longer, so it can never sneak in under the timeout during a stall.
TIMEOUT_S = 5.0
SLOW_S = 60.0


CLIENTS = ["litellm", "http"]
"""The two endpoint judges: through litellm, and `HTTPJudge` posting the requests itself."""


def fault_judge(server: FakeOpenAIServer, client: str = "litellm", **options: Any) -> LiteLLMJudge | HTTPJudge:
    options = {"retry": POLICY, "timeout": TIMEOUT_S, "max_concurrency": 64, **options}
    if client == "http":
        return HTTPJudge("judge", api_base=server.api_base, api_key="sk-test", **options)
    return LiteLLMJudge("hosted_vllm/judge", api_base=server.api_base, api_key="sk-test", **options)


def workload(rows: int, n: int = 4) -> tuple[list[str], list[list[str]]]:
    """Queries and candidates with distinct qualities (a deterministic judge has one right answer)."""
    queries = [f"question {row}" for row in range(rows)]
    candidates = [
        [f"answer {i} to {row}, quality {(row * 7 + i * 3) % 11 + i / 10}" for i in range(n)] for row in range(rows)
    ]
    return queries, candidates


def assert_trace_counts_every_fault(results: list[Selection], injector: FaultInjector) -> None:
    """Per selection, the trace's retries and resamples are the faults the server injected into
    that selection's requests, and its requests are what the server received."""
    for result in results:
        injected = injector.injected[result.query]
        assert result.usage.retries == sum(injected[k] for k in TRANSPORT_FAULTS), result.query
        assert result.usage.resamples == sum(injected[k] for k in CONTENT_FAULTS), result.query
        assert result.usage.requests == injector.requests[result.query], result.query
        assert result.usage.abstentions == 0


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("kind", FAULTS)
def test_each_fault_kind_alone_is_survived_and_counted(kind: str, client: str) -> None:
    # Every request faults once (at most): the trace must show each one, and the winner must hold.
    injector = FaultInjector(by_quality, rate=1.0, kinds=(kind,), max_per_prompt=1, slow_s=SLOW_S)
    queries, candidates = workload(2)
    with FakeOpenAIServer(injector) as server:
        judge = fault_judge(server, client, timeout=2.0)
        results = KnockoutSelector(judge, seed=0).select_many(queries, candidates)
    assert [r.best_index for r in results] == [max(range(4), key=lambda i: quality(c[i])) for c in candidates]
    assert injector.total((kind,)) == 2 * 3  # 3 matches per selection, one fault each
    assert_trace_counts_every_fault(results, injector)
    if kind in DECOY_FAULTS:  # the decoy was there, yet the verdict came from the judge's answer
        assert all(v.verdict is not None and "Assistant" in (v.reasoning or v.answer) for r in results for v in r.votes)


@pytest.mark.parametrize("client", CLIENTS)
def test_a_thousand_selections_at_20_percent_faults_match_a_fault_free_run(client: str) -> None:
    queries, candidates = workload(1000)
    injector = FaultInjector(by_quality, rate=0.2, seed=7, slow_s=SLOW_S)
    with FakeOpenAIServer(injector) as server:
        results = KnockoutSelector(fault_judge(server, client), seed=3).select_many(queries, candidates)
    # The same selections, same seed, with an in-process judge that never fails.
    clean = KnockoutSelector(ScriptedJudge.by_score(quality), seed=3).select_many(queries, candidates)
    assert [r.best_index for r in results] == [r.best_index for r in clean]
    assert [r.ranking for r in results] == [r.ranking for r in clean]
    assert [[(m.a, m.b, m.winner) for m in r.matches] for r in results] == [
        [(m.a, m.b, m.winner) for m in r.matches] for r in clean
    ]
    assert_trace_counts_every_fault(results, injector)
    received = sum(injector.requests.values())
    assert received == len(server.requests) == sum(r.usage.requests for r in results)
    # Every kind was exercised, and the faulty share is near the asked 20% (capped per prompt).
    assert all(sum(c[k] for c in injector.injected.values()) > 0 for k in FAULTS)
    faulty_requests = sum(sum(c.values()) for c in injector.injected.values())  # k=1: one sample per request
    assert 0.15 < faulty_requests / received < 0.25
    print(f"\n{received} requests, {faulty_requests} faulty: {dict(sum(injector.injected.values(), Counter()))}")


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(
    "down",
    [Reply(status=503), Reply(drop=True), Reply(delay_s=30)],
    ids=["503", "dropped", "hung"],
)
def test_a_judge_down_for_good_fails_with_one_clear_error_in_time(down: Reply, client: str) -> None:
    # 8 candidates: four first-round matches fail at once; the caller sees one error, in time.
    policy = RetryPolicy(max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.01)
    outcome: list[BaseException | Selection] = []
    with FakeOpenAIServer(lambda body: down) as server:
        judge = fault_judge(server, client, retry=policy, timeout=0.5)

        def run() -> None:
            try:
                outcome.append(KnockoutSelector(judge, seed=0).select("q", [f"c{i} {i}" for i in range(8)]))
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                outcome.append(exc)

        started = time.monotonic()
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        # The configured time: 3 attempts of at most 0.5 s plus backoff; generous slack for a busy CPU.
        worker.join(timeout=30)
        elapsed = time.monotonic() - started
    assert not worker.is_alive(), "the selection hung on a dead judge"
    assert len(outcome) == 1 and isinstance(outcome[0], JudgeUnavailableError), outcome
    message = str(outcome[0])
    assert f"{judge.model} at {server.api_base}" in message and "failed 3 attempt(s)" in message
    assert elapsed < 30


def test_a_failed_selection_stops_calling_the_judge() -> None:
    def one_pair_down(body: dict[str, Any]) -> Reply:
        if "c0 0" in split_prompt(body):
            return Reply(status=503)  # this match fails fast ...
        time.sleep(0.2)
        return Reply(status=503)  # ... while its siblings are still retrying

    policy = RetryPolicy(max_attempts=6, initial_backoff_s=0.001, max_backoff_s=0.01)
    with FakeOpenAIServer(one_pair_down) as server:
        with pytest.raises(JudgeUnavailableError):
            KnockoutSelector(fault_judge(server, retry=policy), seed=0).select("q", [f"c{i} {i}" for i in range(8)])
        time.sleep(0.3)  # requests in flight when it raised have been answered by now
        sent = len(server.requests)
        time.sleep(0.6)
        assert len(server.requests) == sent, "sibling matches kept calling the judge after the failure"


def test_the_filter_cli_under_faults_and_random_sigkills_ends_with_the_clean_rows(tmp_path: Path) -> None:
    from test_cli import _run_cli, judge_args, make_rows, prefer_quality, read_jsonl, write_jsonl

    rows = [*make_rows(20), {"id": "bad", "prompt": "q"}, *make_rows(36)[20:]]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    options = ["--emit", "pairs", "--method", "elo", "--concurrency", "8", "--rows-in-flight", "6"]
    with FakeOpenAIServer(prefer_quality) as server:
        assert main(["filter", str(source), "-o", str(tmp_path / "clean.jsonl"), *options, *judge_args(server)]) == 0
    injector = FaultInjector(by_quality, rate=0.2, seed=11, slow_s=1.5)
    rng = random.Random(4)
    out = tmp_path / "out.jsonl"
    kills = 0
    with FakeOpenAIServer(injector) as server:
        flaky = [*options, *judge_args(server), "--timeout", "1", "--max-attempts", "4"]
        for _ in range(12):  # every run writes rows before it is killed, so this ends well before
            proc = _run_cli(["filter", str(source), "-o", str(out), *flaky])
            target = (out.read_text().count("\n") if out.exists() else 0) + rng.randint(6, 14)
            while proc.poll() is None and (not out.exists() or out.read_text().count("\n") < target):
                time.sleep(0.02)
            time.sleep(rng.uniform(0, 0.3))  # sometimes mid-row, mid-write or mid-retry
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
            assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
            break
        else:
            pytest.fail("the filter never finished")
    assert kills >= 2 and injector.total() > 0
    assert out.read_bytes() == (tmp_path / "clean.jsonl").read_bytes()
    assert read_jsonl(tmp_path / "out.jsonl.rejects.jsonl") == read_jsonl(tmp_path / "clean.jsonl.rejects.jsonl")
    print(f"\n{kills} SIGKILLs, {injector.total()} faults in {sum(injector.requests.values())} requests")


def test_the_budget_holds_under_faults() -> None:
    # N=8 knockout, k=1: 7 calls if no vote needs a resample. With a budget of exactly 7, a
    # selection stops early exactly when the server cut off or blanked one of its verdicts;
    # transport retries never count against it (they are bounded by max_attempts instead).
    queries, candidates = workload(60, n=8)
    injector = FaultInjector(by_quality, rate=0.2, seed=9, kinds=("500", "429", "drop", "malformed", *CONTENT_FAULTS))
    with FakeOpenAIServer(injector) as server:
        results = KnockoutSelector(fault_judge(server), budget=7, seed=1).select_many(queries, candidates)
    for result in results:
        injected = injector.injected[result.query]
        calls = result.usage.requests - result.usage.retries
        assert calls <= 7 and result.usage.requests == injector.requests[result.query]
        assert result.usage.retries == sum(injected[k] for k in TRANSPORT_FAULTS)
        assert result.usage.retries <= calls * (POLICY.max_attempts - 1)
        if sum(injected[k] for k in CONTENT_FAULTS) == 0:  # 7 calls sufficed: a full, right result
            assert result.stopped_early is None and result.usage.abstentions == 0
            assert quality(result.best) == max(quality(c) for c in result.candidates)
        else:  # the resample did not fit: a match went unplayed, or its vote stayed an abstention
            assert result.stopped_early == "budget" or result.usage.abstentions > 0, result.query
    assert {r.stopped_early for r in results} == {None, "budget"}  # both outcomes really occurred


def test_a_resample_refused_by_the_budget_is_reported_as_stopping_early() -> None:
    def blank_first(body: dict[str, Any]) -> Reply:  # every first sample lacks a verdict
        return fault_reply("no_verdict" if len(server.requests) == 1 else None, body, by_quality(body))

    with FakeOpenAIServer(blank_first) as server:
        result = KnockoutSelector(fault_judge(server), budget=1, seed=0).select("q", ["a 1", "b 2"])
    assert result.usage.abstentions == 1 and len(server.requests) == 1  # the resample was refused
    assert result.stopped_early == "budget"


def test_the_deadline_holds_under_faults() -> None:
    # Some replies hang for a minute, far past the 6 s deadline (generous: a busy CPU must not
    # make healthy selections miss it) and inside the 120 s request timeout: only the deadline can
    # end those selections, and it must, with the best so far.
    queries, candidates = workload(20)
    injector = FaultInjector(by_quality, rate=0.25, seed=2, kinds=("500", "drop", "slow"), slow_s=SLOW_S)

    async def run_all(judge: LiteLLMJudge) -> list[Selection | BaseException]:
        selector = KnockoutSelector(judge, deadline_s=6.0, seed=0)
        return await asyncio.gather(
            *(selector.aselect(q, c) for q, c in zip(queries, candidates)), return_exceptions=True
        )

    with FakeOpenAIServer(injector) as server:
        started = time.monotonic()
        outcomes = asyncio.run(asyncio.wait_for(run_all(fault_judge(server, timeout=120)), timeout=40))
        elapsed = time.monotonic() - started
    assert elapsed < 40  # far below the hung replies' minute: the deadline ended them
    for query, outcome in zip(queries, outcomes, strict=True):
        hung = injector.injected[query]["slow"] > 0
        if isinstance(outcome, BaseException):  # no vote at all arrived in time
            assert hung and isinstance(outcome, DeadlineExceededError), outcome
            continue
        assert outcome.stopped_early == ("deadline" if hung else None), query
        if not hung:
            assert quality(outcome.best) == max(quality(c) for c in outcome.candidates)
    assert any(injector.injected[q]["slow"] for q in queries) and not all(injector.injected[q]["slow"] for q in queries)
