"""Selectors against deterministic and noisy scripted judges (no network)."""

from __future__ import annotations

import asyncio
import itertools
import math
import multiprocessing
import threading
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from conftest import quality

from rrm_select import (
    EloSelector,
    InvalidArgumentError,
    KnockoutSelector,
    ScriptedJudge,
    Selection,
    SwissSelector,
    rerank,
)
from rrm_select import Backend, Generation, Judge, Prompt, Sample
from rrm_select.ratings import bradley_terry
from rrm_select.selectors.knockout import build_bracket
from rrm_select.selectors.swiss import swiss_pairs
from rrm_select.sync_loop import THREAD_NAME

POLICIES = ["random", "per_match", "alternate", "both"]
SELECTORS = [KnockoutSelector, EloSelector, SwissSelector]


def candidates(n: int, seed: int) -> list[str]:
    scores = np.random.default_rng(seed).permutation(n)
    return [f"answer {i}, quality {s}" for i, s in enumerate(scores)]


def true_best(texts: Sequence[str]) -> int:
    return max(range(len(texts)), key=lambda i: quality(texts[i]))


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("selector", SELECTORS)
@pytest.mark.parametrize("n", [2, 3, 5, 8, 13])
def test_perfect_judge_picks_true_best(selector: type, policy: str, n: int) -> None:
    for seed in range(4):
        texts = candidates(n, seed)
        result = selector(ScriptedJudge.by_score(quality), votes=3, order=policy, seed=seed).select("q", texts)
        assert result.best_index == true_best(texts)
        assert result.best == texts[true_best(texts)]
        assert sorted(result.ranking) == list(range(n))
        assert all(m.decided_by == "majority" for m in result.matches)


def test_elo_ranking_is_the_true_order_for_a_perfect_judge() -> None:
    texts = candidates(7, 1)
    result = EloSelector(ScriptedJudge.by_score(quality), seed=0).select("q", texts)
    assert [quality(texts[i]) for i in result.ranking] == sorted((quality(t) for t in texts), reverse=True)
    assert result.scores[result.best_index] == max(result.scores)


@pytest.mark.parametrize("n", [2, 3, 5, 6, 8, 9, 16])
def test_knockout_shape(n: int) -> None:
    texts = candidates(n, n)
    result = KnockoutSelector(ScriptedJudge.by_score(quality), seed=n).select("q", texts)
    assert len(result.matches) == n - 1
    assert max(m.round for m in result.matches) == math.ceil(math.log2(n))
    losers = [m.loser for m in result.matches]
    assert len(set(losers)) == n - 1 and result.best_index not in losers
    assert result.scores[result.best_index] == math.ceil(math.log2(n)) + 1


@pytest.mark.parametrize("policy, votes_per_match", [("per_match", 3), ("both", 6)])
def test_elo_plays_every_pair(policy: str, votes_per_match: int) -> None:
    texts = candidates(6, 0)
    result = EloSelector(ScriptedJudge.by_score(quality), votes=3, order=policy, seed=0).select("q", texts)
    assert sorted((m.a, m.b) for m in result.matches) == list(itertools.combinations(range(6), 2))
    assert all(len(m.votes) == votes_per_match for m in result.matches)
    if policy == "both":
        for m in result.matches:
            assert sorted(v.first for v in m.votes) == sorted([m.a] * 3 + [m.b] * 3)


def test_online_elo_rating() -> None:
    texts = candidates(6, 2)
    result = EloSelector(ScriptedJudge.by_score(quality), rating="online_elo", seed=0).select("q", texts)
    assert result.best_index == true_best(texts)
    assert math.isclose(sum(result.scores), 1500 * 6)


def test_requests_per_selection() -> None:
    texts = candidates(8, 0)
    for votes, policy, expected in [(1, "random", 7), (3, "per_match", 7), (3, "both", 14), (3, "alternate", 14)]:
        judge = ScriptedJudge.by_score(quality)
        result = KnockoutSelector(judge, votes=votes, order=policy, seed=0).select("q", texts)
        assert result.usage.requests == judge.calls == expected
        assert result.usage.votes == 7 * votes * (2 if policy == "both" else 1)
    random_k3 = KnockoutSelector(ScriptedJudge.by_score(quality), votes=3, seed=0).select("q", texts)
    assert 7 <= random_k3.usage.requests <= 14


def test_trace_records_every_vote() -> None:
    texts = candidates(4, 0)
    result = KnockoutSelector(ScriptedJudge.by_score(quality), votes=3, seed=5).select("q", texts)
    for match in result.matches:
        assert len(match.votes) == 3 and match.requests >= 1
        for v in match.votes:
            assert {v.first, v.second} == {match.a, match.b}
            assert v.winner == match.winner and v.answer.endswith(f"\\boxed{{Assistant {v.verdict}}}")
            assert v.prompt_tokens > 0 and v.completion_tokens > 0 and v.finish_reason == "stop"
    assert result.usage.votes == len(result.votes) == 9
    assert result.usage.prompt_tokens == sum(v.prompt_tokens for v in result.votes)
    assert result.usage.wall_time_s > 0
    assert Selection.model_validate_json(result.model_dump_json()) == result


def test_duplicates_are_judged_once() -> None:
    judge = ScriptedJudge.by_score(quality)
    texts = ["low 1", "high 2", "low 1", "high 2", "high 2"]
    result = KnockoutSelector(judge, seed=0).select("q", texts)
    assert judge.calls == 1 and len(result.matches) == 1
    assert result.best_index == 1 and result.ranking == (1, 3, 4, 0, 2)
    assert result.scores[3] == result.scores[1] and result.scores[2] == result.scores[0]
    assert {result.matches[0].a, result.matches[0].b} == {0, 1}


def test_swiss_pairs_equal_records_without_rematches() -> None:
    points = [2.0, 0.0, 2.0, 1.0, 1.0, 0.0, 1.0]
    sat_out = [0, 0, 0, 0, 0, 1, 0]
    pairs = swiss_pairs(points, set(), sat_out, np.random.default_rng(0))
    playing = [c for pair in pairs for c in pair]
    assert len(pairs) == 3 and sorted(playing + [1]) == list(range(7))  # 5 sat out before, so 1 rests
    assert sat_out[1] == 1
    assert frozenset((0, 2)) in {frozenset(p) for p in pairs}  # the two leaders meet
    again = swiss_pairs(points, {frozenset((0, 2))}, [0] * 7, np.random.default_rng(0))
    assert frozenset((0, 2)) not in {frozenset(p) for p in again}


@pytest.mark.parametrize("n", [2, 3, 5, 8, 13, 16])
def test_swiss_plays_rounds_of_disjoint_pairs(n: int) -> None:
    texts = candidates(n, n)
    result = SwissSelector(ScriptedJudge.by_score(quality), seed=0).select("q", texts)
    rounds = min(math.ceil(math.log2(n)) + 1, n - 1)
    assert len(result.matches) == rounds * (n // 2)
    for r in range(1, rounds + 1):
        players = [c for m in result.matches if m.round == r for c in (m.a, m.b)]
        assert len(players) == len(set(players)) == 2 * (n // 2)
    pairs = [frozenset((m.a, m.b)) for m in result.matches]
    assert len(pairs) == len(set(pairs))  # no rematch while a new opponent was available
    assert result.method == "swiss" and result.best_index == true_best(texts)


@pytest.mark.parametrize("selector", SELECTORS)
def test_single_candidate_costs_nothing(selector: type) -> None:
    judge = ScriptedJudge.by_score(quality)
    for texts in (["only 1"], ["same 1"] * 4):
        result = selector(judge).select("q", texts)
        assert result.best_index == 0 and result.matches == () and result.usage.requests == 0
    assert judge.calls == 0


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda j: KnockoutSelector(j, votes=0), "votes must be an integer >= 1"),
        (lambda j: EloSelector(j, votes=1.5), "votes must be an integer >= 1"),
        (lambda j: KnockoutSelector(j, order="sideways"), "unknown order policy"),
        (lambda j: KnockoutSelector(j, seed=-1), "seed must be a non-negative integer"),
        (lambda j: EloSelector(j, rating="glicko"), "unknown rating 'glicko'"),
        (lambda j: KnockoutSelector("not a judge"), "judge must be a rrm_select Judge"),
    ],
)
def test_bad_construction(build, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        build(ScriptedJudge.by_score(quality))


@pytest.mark.parametrize(
    ("query", "texts", "message"),
    [
        ("q", [], "candidates is empty"),
        ("q", "abc", "must be a sequence of strings, got str"),
        ("q", ["a", 3], r"candidates\[1\] must be a str, got int"),
        (None, ["a"], "query must be a str"),
        ("q", ["a", "b\ud800c"], r"candidates\[1\] is not valid Unicode text: surrogates not allowed at position 1"),
        ("q\udfff", ["a"], "query is not valid Unicode text"),
    ],
)
def test_bad_input(query, texts, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        KnockoutSelector(ScriptedJudge.by_score(quality)).select(query, texts)


def test_select_many_checks_shapes() -> None:
    selector = EloSelector(ScriptedJudge.by_score(quality))
    with pytest.raises(InvalidArgumentError, match="equal length"):
        selector.select_many(["q1", "q2"], [["a 1", "b 2"]])
    with pytest.raises(InvalidArgumentError, match=r"candidates\[1\] is empty"):
        selector.select_many(["q1", "q2"], [["a 1"], []])


def _comparable(result: Selection) -> dict:
    dump = result.model_dump()
    dump["usage"].pop("wall_time_s")
    return dump


@pytest.mark.parametrize("selector", SELECTORS)
def test_same_seed_same_result_sync_and_async(selector: type) -> None:
    texts = candidates(11, 3)

    def run(mode: str) -> Selection:
        s = selector(ScriptedJudge.by_score(quality, accuracy=0.7, seed=9), votes=3, seed=42)
        return s.select("q", texts) if mode == "sync" else asyncio.run(s.aselect("q", texts))

    first, again, in_async = run("sync"), run("sync"), run("async")
    assert _comparable(first) == _comparable(again) == _comparable(in_async)
    assert first.seed == 42
    other = selector(ScriptedJudge.by_score(quality, accuracy=0.7, seed=9), votes=3, seed=43).select("q", texts)
    assert _comparable(other) != _comparable(first)


def test_unseeded_runs_record_a_replayable_seed() -> None:
    texts = candidates(9, 0)
    judge = ScriptedJudge.by_score(quality)
    first = KnockoutSelector(judge).select("q", texts)
    replay = KnockoutSelector(judge, seed=first.seed).select("q", texts)
    assert [(m.a, m.b) for m in replay.matches] == [(m.a, m.b) for m in first.matches]
    assert [v.first for v in replay.votes] == [v.first for v in first.votes]


def test_select_many_matches_selects_with_derived_seeds() -> None:
    queries = [f"q{i}" for i in range(5)]
    lists = [candidates(6, i) for i in range(5)]
    selector = KnockoutSelector(ScriptedJudge.by_score(quality), votes=1, seed=7)
    many = selector.select_many(queries, lists)
    assert [r.best_index for r in many] == [true_best(t) for t in lists]
    assert [r.query for r in many] == queries
    again = KnockoutSelector(ScriptedJudge.by_score(quality), seed=many[3].seed).select("q3", lists[3])
    assert _comparable(again) == _comparable(many[3])


def test_select_works_inside_a_running_loop() -> None:
    texts = candidates(5, 0)

    async def handler() -> int:  # e.g. a FastAPI route or a Jupyter cell
        return KnockoutSelector(ScriptedJudge.by_score(quality), seed=1).select("q", texts).best_index

    assert asyncio.run(handler()) == true_best(texts)


def test_position_biased_judge_ties_are_flagged() -> None:
    always_first = ScriptedJudge(lambda q, a, b: 1)
    result = KnockoutSelector(always_first, order="both", seed=0).select("q", candidates(4, 0))
    assert all(m.decided_by == "tie_break" and m.wins == (1, 1) for m in result.matches)


def test_abstaining_judge_is_resampled_then_recorded() -> None:
    judge = ScriptedJudge(lambda q, a, b: None)
    result = EloSelector(judge, votes=2, order="per_match", seed=0).select("q", ["a", "b", "c"])
    for match in result.matches:
        assert match.decided_by == "no_valid_vote"
        for v in match.votes:
            assert v.verdict is None and v.winner is None and "cannot decide" in v.answer
            assert len(v.discarded) == 2  # the default policy resamples twice
    assert result.usage.abstentions == 6 and result.usage.resamples == 12
    assert result.usage.requests == judge.calls == 3 * 3  # one request per match and round
    ties = {m.winner for m in result.matches}
    assert ties <= {0, 1, 2}


class GatedBackend(Backend):
    """First-round match of the 'slow' candidate waits until a later match has started."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str]] = []
        self.later_match_started = asyncio.Event()

    async def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        self.started += [(p.request.first, p.request.second) for p in prompts]
        if len(self.started) > 4:
            self.later_match_started.set()
        if any("slow" in p.request.first + p.request.second for p in prompts):
            await asyncio.wait_for(self.later_match_started.wait(), timeout=5)
        return [Generation([_box(p)]) for p in prompts]


def _box(prompt: Prompt) -> Sample:
    better = 1 if quality(prompt.request.first) > quality(prompt.request.second) else 2
    return Sample(f"x</think>\\boxed{{Assistant {better}}}", None, "stop", 0.0)


def test_knockout_match_starts_as_soon_as_its_entrants_are_known() -> None:
    texts = ["slow 0"] + [f"fast {i}" for i in range(1, 8)]
    backend = GatedBackend()
    # If the second round waited for the whole first round, the slow match would time out.
    result = KnockoutSelector(Judge(backend), seed=0).select("q", texts)
    assert result.best == "fast 7" and len(backend.started) == 7


def _mc_knockout(n: int, p: float, sims: int, rng: np.random.Generator) -> float:
    """Monte-Carlo model: a random bracket where each match goes to the better side w.p. p."""
    best_wins = 0
    for _ in range(sims):
        alive = [
            (slot if len(slot) == 1 else (max(slot) if rng.random() < p else min(slot),))[0]
            for slot in build_bracket(n, rng)
        ]
        while len(alive) > 1:
            alive = [max(a, b) if rng.random() < p else min(a, b) for a, b in zip(alive[::2], alive[1::2])]
        best_wins += alive[0] == n - 1
    return best_wins / sims


def _mc_elo(n: int, p: float, sims: int, rng: np.random.Generator) -> float:
    best_wins = 0
    for _ in range(sims):
        order = rng.permutation(n)  # candidate at position i has quality order[i]
        wins = np.zeros((n, n))
        for i, j in itertools.combinations(range(n), 2):
            better, worse = (i, j) if order[i] > order[j] else (j, i)
            w, l = (better, worse) if rng.random() < p else (worse, better)
            wins[w, l] += 1
        s = bradley_terry(wins)
        won = wins.sum(axis=1)
        best = min(range(n), key=lambda t: (-s[t], -won[t], t))
        best_wins += order[best] == n - 1
    return best_wins / sims


def _majority(p: float, k: int) -> float:
    return sum(math.comb(k, w) * p**w * (1 - p) ** (k - w) for w in range(k // 2 + 1, k + 1))


@pytest.mark.parametrize(
    ("selector", "n", "votes", "model"),
    [(KnockoutSelector, 8, 1, _mc_knockout), (KnockoutSelector, 6, 3, _mc_knockout), (EloSelector, 5, 1, _mc_elo)],
)
def test_noisy_judge_matches_monte_carlo(selector: type, n: int, votes: int, model) -> None:
    p = 0.75
    trials = 500
    judge = ScriptedJudge.by_score(quality, accuracy=p, seed=1)
    hits = 0
    for trial in range(trials):
        texts = candidates(n, 1000 + trial)
        hits += selector(judge, votes=votes, order="per_match", seed=trial).select("q", texts).best_index == true_best(
            texts
        )
    predicted = model(n, _majority(p, votes), 20000, np.random.default_rng(0))
    if selector is KnockoutSelector and n == 8:
        assert abs(predicted - p**3) < 0.015  # the model itself agrees with the closed form
    tolerance = 4 * math.sqrt(predicted * (1 - predicted) / trials) + 0.01
    assert abs(hits / trials - predicted) < tolerance, (hits / trials, predicted)


def test_every_selector_runs_on_one_shared_loop_thread() -> None:
    # litellm binds its clients and logging worker to a loop; a loop per selector left a pending
    # task behind each discarded selector and a thread per selector alive.
    for seed in range(5):
        assert KnockoutSelector(ScriptedJudge.by_score(quality), seed=seed).select("q", ["a 1", "b 2"]).best_index == 1
    assert [t.name for t in threading.enumerate()].count(THREAD_NAME) == 1


def test_a_sync_call_from_inside_the_shared_loop_is_an_error_not_a_deadlock() -> None:
    selector = KnockoutSelector(ScriptedJudge.by_score(quality), seed=0)

    def text(item: str) -> str:
        return selector.select("q", [item, "z 0"]).best  # a sync call on the loop that runs rerank

    outcome: list[BaseException] = []
    worker = threading.Thread(
        target=lambda: _capture(outcome, lambda: rerank("q", ["a 1", "b 2"], selector=selector, text=text))
    )
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "the nested sync call hung"
    assert isinstance(outcome[0], RuntimeError) and "await the async form" in str(outcome[0])


def _capture(into: list[BaseException], call: Callable[[], object]) -> None:
    try:
        call()
    except BaseException as exc:  # noqa: BLE001 - the test inspects whatever was raised
        into.append(exc)


def test_select_works_in_a_forked_child() -> None:
    # A fork copies the shared loop object but not its thread; the child must start its own.
    selector = KnockoutSelector(ScriptedJudge.by_score(quality), seed=0)
    selector.select("q", ["a 1", "b 2"])  # the parent's loop thread is running
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        assert pool.apply_async(_best_in_child).get(timeout=60) == 2


def _best_in_child() -> int:
    return KnockoutSelector(ScriptedJudge.by_score(quality), seed=0).select("q", ["a 1", "b 2", "c 3"]).best_index
