"""Concurrency under load: 200 selections at once on one LiteLLMJudge, over real HTTP."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from conftest import prefer_quality, quality
from fake_openai import FakeOpenAIServer, Reply, prompt_query

from rrm_select import KnockoutSelector, LiteLLMJudge, RetryPolicy

LIMIT = 8
SELECTIONS = 200


def slow_by_quality(body: dict[str, Any]) -> Reply:
    time.sleep(0.03)  # long enough for requests to pile up against the limit
    return prefer_quality(body)


def limited_judge(server: FakeOpenAIServer) -> LiteLLMJudge:
    policy = RetryPolicy(max_attempts=2, initial_backoff_s=0.001, max_backoff_s=0.01)
    return LiteLLMJudge(
        "hosted_vllm/judge", api_base=server.api_base, api_key="sk-test", max_concurrency=LIMIT, retry=policy
    )


def rows(count: int, n: int) -> tuple[list[str], list[list[str]]]:
    return [f"question {r}" for r in range(count)], [
        [f"r{r} c{i}, quality {(r + 3 * i) % n}" for i in range(n)] for r in range(count)
    ]


def test_200_selections_never_exceed_the_limit_and_all_finish_right() -> None:
    queries, candidates = rows(SELECTIONS, 4)
    with FakeOpenAIServer(slow_by_quality) as server:
        results = KnockoutSelector(limited_judge(server), seed=0).select_many(queries, candidates)
    # Never exceeded; and requests really piled up against it (a busy CPU may keep the client
    # from filling every slot at the same instant, so "reached" is not asserted exactly).
    assert LIMIT // 2 < server.max_in_flight <= LIMIT
    assert len(server.requests) == SELECTIONS * 3
    for result, texts in zip(results, candidates, strict=True):  # none starved: every one finished, right
        assert result.best_index == max(range(4), key=lambda i: quality(texts[i]))
        assert result.usage.retries == 0 and result.usage.requests == 3


def test_waiting_selections_are_served_in_arrival_order() -> None:
    # One match per selection, started in order: the limit admits first come, first served, so a
    # request reaches the server at most a window of LIMIT places away from its turn; a starved
    # selection would fall far behind.
    queries, candidates = rows(SELECTIONS, 2)
    with FakeOpenAIServer(slow_by_quality) as server:
        selector = KnockoutSelector(limited_judge(server), seed=0)
        selector.select("warm-up", ["a 1", "b 2"])  # litellm's first call sets up its client slowly
        selector.select_many(queries, candidates)
    arrival = [int(prompt_query(body).split()[-1]) for body in server.requests[1:]]
    assert sorted(arrival) == list(range(SELECTIONS))
    assert max(abs(position - selection) for position, selection in enumerate(arrival)) <= LIMIT


def test_cancelling_200_selections_leaves_no_task_request_or_slot_behind() -> None:
    queries, candidates = rows(SELECTIONS, 4)

    async def cancel_mid_run(server: FakeOpenAIServer, judge: LiteLLMJudge) -> list[asyncio.Task[Any]]:
        run = asyncio.ensure_future(KnockoutSelector(judge, seed=0).aselect_many(queries, candidates))
        while len(server.requests) < 3 * LIMIT:  # well into the run, with requests in flight
            await asyncio.sleep(0.01)
        run.cancel()
        try:
            await run
        except asyncio.CancelledError:
            pass
        await asyncio.sleep(0.05)  # let cancellations settle
        # litellm's process-wide logging worker is litellm's own, not a task of ours
        return [
            t
            for t in asyncio.all_tasks()
            if t is not asyncio.current_task() and "LoggingWorker" not in repr(t.get_coro())
        ]

    with FakeOpenAIServer(slow_by_quality) as server:
        judge = limited_judge(server)
        left = asyncio.run(cancel_mid_run(server, judge))
        sent = len(server.requests)
        give_up = time.monotonic() + 10
        while server.in_flight and time.monotonic() < give_up:
            time.sleep(0.01)
        time.sleep(0.2)  # anything still queued or retrying would reach the server now
        assert server.in_flight == 0
        assert len(server.requests) == sent
    assert left == []
    assert sent < SELECTIONS * 3  # it really was cut short
    assert judge.transport.limit.active == 0 and not judge.transport.limit._waiters  # every slot given back
