"""The judgment cache: votes already paid for are reused, and only those."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import quality

from rrm_select import EloSelector, KnockoutSelector, ScriptedJudge
from rrm_select.cache import JudgmentCache

TEXTS = [f"candidate {i}, quality {q}" for i, q in enumerate([3, 9, 1, 4, 7, 2])]


def cached_judge(path: Path, **options: object) -> ScriptedJudge:
    judge = ScriptedJudge.by_score(quality, **options)  # type: ignore[arg-type]
    judge.cache = JudgmentCache(path)
    return judge


def test_rerun_costs_nothing_and_gives_the_same_result(tmp_path: Path) -> None:
    first_judge = cached_judge(tmp_path / "c.db", accuracy=0.7, seed=1)
    first = KnockoutSelector(first_judge, votes=3, seed=0).select("q", TEXTS)
    again_judge = cached_judge(tmp_path / "c.db", accuracy=0.7, seed=2)  # another noise stream
    again = KnockoutSelector(again_judge, votes=3, seed=0).select("q", TEXTS)
    assert again_judge.calls == 0 and again.usage.requests == 0
    assert again.usage.cached_votes == again.usage.votes == first.usage.votes
    assert again.usage.prompt_tokens == 0
    assert [v.verdict for v in again.votes] == [v.verdict for v in first.votes]
    assert all(v.cached for v in again.votes) and not any(v.cached for v in first.votes)
    assert again.best_index == first.best_index


def test_more_votes_reuse_the_first_ones(tmp_path: Path) -> None:
    judge = cached_judge(tmp_path / "c.db")
    EloSelector(judge, votes=1, order="per_match", seed=0).select("q", TEXTS[:4])
    assert judge.calls == 6
    result = EloSelector(judge, votes=3, order="per_match", seed=0).select("q", TEXTS[:4])
    # same coin per match, so the same ordered pairs: vote 0 is reused, votes 1-2 are new
    assert result.usage.cached_votes == 6 and result.usage.votes == 18


def test_knockout_then_elo_reuses_shared_pairs(tmp_path: Path) -> None:
    judge = cached_judge(tmp_path / "c.db")
    knockout = KnockoutSelector(judge, order="both", seed=0).select("q", TEXTS)
    elo = EloSelector(judge, order="both", seed=0).select("q", TEXTS)
    assert elo.usage.cached_votes == 2 * len(knockout.matches)
    assert elo.usage.votes == 2 * 15


def test_a_different_judge_setting_misses(tmp_path: Path) -> None:
    judge = cached_judge(tmp_path / "c.db")
    KnockoutSelector(judge, seed=0).select("q", TEXTS)
    other = cached_judge(tmp_path / "c.db", accuracy=0.9)
    result = KnockoutSelector(other, seed=0).select("q", TEXTS)
    assert result.usage.cached_votes == 0 and other.calls == len(result.matches)


def test_clear(tmp_path: Path) -> None:
    judge = cached_judge(tmp_path / "c.db")
    KnockoutSelector(judge, seed=0).select("q", TEXTS)
    assert judge.cache is not None and len(judge.cache) == 5
    judge.cache.clear()
    assert len(judge.cache) == 0


def test_a_process_killed_while_storing_votes_keeps_all_of_them_or_none(tmp_path: Path) -> None:
    # The votes of one request are stored together; a resume that found only some of them would
    # ask for the rest in a smaller request, and its row would differ from a clean run's.
    path = tmp_path / "c.db"
    script = textwrap.dedent(
        f"""
        import os
        from rrm_select.cache import JudgmentCache
        from rrm_select.types import Vote

        cache = JudgmentCache({str(path)!r})
        inserts = []
        def die_on_the_second_insert(sql):
            inserts.extend(["insert"] if sql.startswith("INSERT") else [])
            if len(inserts) == 2:
                os._exit(9)  # as abrupt as SIGKILL: no cleanup, no rollback
        cache._db.set_trace_callback(die_on_the_second_insert)
        vote = Vote(first=0, second=1, verdict=1, answer="a", reasoning=None, finish_reason="stop", latency_s=0.1)
        cache.put({{"k1": vote, "k2": vote, "k3": vote}})
        """
    )
    died = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60)
    assert died.returncode == 9, died.stderr
    assert len(JudgmentCache(path)) == 0


def test_the_resampling_policy_is_part_of_the_key(tmp_path: Path) -> None:
    from rrm_select import Judge, RetryPolicy, ScriptedBackend, VoteRequest, run_sync

    def judge(resamples: int) -> Judge:
        backend = ScriptedBackend(lambda query, first, second: 1 if quality(first) > quality(second) else 2)
        return Judge(backend, retry=RetryPolicy(resamples=resamples), cache=JudgmentCache(tmp_path / "c.db"))

    request = [VoteRequest("q", TEXTS[0], TEXTS[1], 1)]
    resampling = judge(2)
    run_sync(resampling.ajudge(request))  # a filter run's default policy
    assert resampling.backend.calls == 1
    again = judge(2)
    assert run_sync(again.ajudge(request))[0].votes[0].cached and again.backend.calls == 0  # the same policy: served
    first_sample = judge(0)
    assert not run_sync(first_sample.ajudge(request))[0].votes[0].cached and first_sample.backend.calls == 1
    # The default policy's keys are those of before the policy was part of them.
    assert "resamples" not in resampling.fingerprint and '"resamples": 0' in first_sample.fingerprint
