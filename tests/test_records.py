"""What a record keeps for a byte-identical resume is decided where it is defined: fields marked
``per_run`` in rrm_select/types.py are left out of `Selection.trace`, the rest are kept."""

from __future__ import annotations

from pathlib import Path

from conftest import quality
from pydantic import BaseModel

from rrm_select import JudgmentCache, KnockoutSelector, Match, ScriptedJudge, Selection, Vote

# The fields a resumed run must reproduce. A new field goes here, or is marked per_run where it
# is defined: this test fails until it has made that choice.
KEPT = {
    Vote: {"first", "second", "verdict", "answer", "reasoning", "finish_reason", "prompt_tokens",
           "completion_tokens", "discarded", "thinking_budget", "forced", "reasoning_tokens"},
    Match: {"a", "b", "round", "votes", "winner", "decided_by"},
    Selection: {"query", "candidates", "method", "best_index", "ranking", "scores", "matches", "seed",
                "stopped_early", "settings", "answers"},
}  # fmt: skip


def per_run(record: type[BaseModel]) -> set[str]:
    return {
        name
        for name, field in record.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("per_run")
    }


def test_every_field_is_kept_or_marked_per_run() -> None:
    for record, kept in KEPT.items():
        assert set(record.model_fields) == kept | per_run(record), record.__name__
        assert not kept & per_run(record)
    assert per_run(Vote) == {"latency_s", "cost_usd", "cached"}
    assert per_run(Match) == {"requests", "retries", "hedges"}
    assert per_run(Selection) == {"usage"}


def test_the_trace_leaves_per_run_fields_out(tmp_path: Path) -> None:
    candidates = ["a 1", "b 3", "c 2", "d 5", "e 4"]
    judge = ScriptedJudge.by_score(quality, latency_s=0.01)
    judge.cache = JudgmentCache(tmp_path / "cache.sqlite")
    selector = KnockoutSelector(judge, votes=3, seed=7)
    fresh, cached = selector.select("q", candidates), selector.select("q", candidates)
    assert all(v.cached for v in cached.votes) and not any(v.cached for v in fresh.votes)
    assert fresh.model_dump() != cached.model_dump()  # latencies, usage, cache flags, requests
    assert fresh.trace() == cached.trace()
    trace = fresh.trace()
    # The inputs are the caller's; settings are recorded only by apps that build the selection
    # from settings (the litellm provider), answers only with an answer key: left out while unset.
    assert set(trace) == KEPT[Selection] - {"query", "candidates", "settings", "answers"}
    recorded = fresh.model_copy(update={"settings": {"votes": {"value": 3, "source": "call"}}})
    assert recorded.trace()["settings"] == {"votes": {"value": 3, "source": "call"}}
    match = trace["matches"][0]
    assert set(match) == KEPT[Match] and set(match["votes"][0]) == KEPT[Vote]
