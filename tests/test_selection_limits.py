"""Adaptive voting, call budgets, deadlines, hedging, order flips, finalists and candidates that
are still arriving: the selector options of the performance and reliability issues."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence

import numpy as np
import pytest
from conftest import quality

from rrm_select import (
    BudgetExhaustedError,
    DeadlineExceededError,
    EloSelector,
    InvalidArgumentError,
    KnockoutSelector,
    ScriptedJudge,
    SwissSelector,
)
from rrm_select.cache import JudgmentCache
from rrm_select import Generation, Prompt, Sample, ScriptedBackend
from rrm_select.judges.hedging import Hedge
from rrm_select.selectors.elo import circle_schedule
from rrm_select.types import Verdict
from rrm_select.voting import next_wave


def texts_of(n: int, seed: int = 0) -> list[str]:
    scores = np.random.default_rng(seed).permutation(n)
    return [f"answer {i}, quality {s}" for i, s in enumerate(scores)]


def best_of(texts: Sequence[str]) -> int:
    return max(range(len(texts)), key=lambda i: quality(texts[i]))


# --- adaptive voting -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lead", "trail", "cast", "votes", "per_slot", "early_stop", "expected"),
    [
        (0, 0, 0, 3, 1, "off", 3),
        (2, 1, 3, 3, 1, "off", 0),
        (0, 0, 0, 3, 1, "decided", 2),  # two votes could settle it
        (2, 0, 2, 3, 1, "decided", 0),  # out of reach
        (1, 1, 2, 3, 1, "decided", 1),
        (0, 0, 0, 5, 1, "decided", 3),
        (2, 1, 3, 5, 1, "decided", 1),
        (3, 1, 4, 5, 1, "decided", 0),
        (0, 0, 0, 9, 1, "decided", 5),
        (0, 0, 0, 9, 1, "confident", 4),  # 4 straight votes: P(prefers leader) = 1 - 2**-5 >= 0.95
        (4, 0, 4, 9, 1, "confident", 0),
        (3, 1, 4, 9, 1, "confident", 2),  # 5-1 with 3 left is out of reach before 6-1 is confident
        (0, 0, 0, 3, 2, "decided", 2),  # order="both": one slot is two votes
        (2, 0, 1, 3, 2, "decided", 1),
        (4, 0, 2, 3, 2, "decided", 0),
    ],
)
def test_next_wave(lead: int, trail: int, cast: int, votes: int, per_slot: int, early_stop: str, expected: int) -> None:
    assert next_wave(lead, trail, cast, votes, per_slot, early_stop, 0.95) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("selector", [KnockoutSelector, EloSelector])
@pytest.mark.parametrize("k", [3, 5, 9])
def test_early_stop_spends_the_fewest_votes_a_unanimous_judge_allows(selector: type, k: int) -> None:
    texts = texts_of(8)
    judge = ScriptedJudge.by_score(quality)
    result = selector(judge, votes=k, order="per_match", early_stop="decided", seed=1).select("q", texts)
    assert result.best_index == best_of(texts)
    assert all(len(m.votes) == k // 2 + 1 for m in result.matches)
    assert result.usage.requests == len(result.matches)  # one wave each


def test_early_stop_keeps_the_winners_of_full_voting() -> None:
    texts = texts_of(16, 3)
    for seed in range(6):
        full = KnockoutSelector(ScriptedJudge.by_score(quality, accuracy=0.7, seed=seed), votes=5, seed=seed)
        early = KnockoutSelector(
            ScriptedJudge.by_score(quality, accuracy=0.7, seed=seed), votes=5, early_stop="decided", seed=seed
        )
        a, b = full.select("q", texts), early.select("q", texts)
        # The same noise stream is consumed in a different order, so winners may differ; what
        # must hold is that every early-stopped match was already out of reach.
        assert a.usage.votes == 5 * 15
        assert b.usage.votes < a.usage.votes
        for match in b.matches:
            won = sorted(match.wins, reverse=True)
            assert len(match.votes) == 5 or won[0] > won[1] + (5 - len(match.votes))


def test_later_waves_are_new_votes_not_cache_hits(tmp_path) -> None:  # type: ignore[no-untyped-def]
    verdicts = iter([1, 2, 1, 2, 1, 2])

    def flip_flop(query: str, first: str, second: str) -> Verdict:
        return next(verdicts)  # type: ignore[return-value]

    judge = ScriptedJudge(flip_flop)
    judge.cache = JudgmentCache(tmp_path / "cache.sqlite")
    result = KnockoutSelector(judge, votes=3, order="per_match", early_stop="decided", seed=0).select("q", ["a", "b"])
    (match,) = result.matches
    assert len(match.votes) == 3 and judge.calls == 2  # a 1-1 wave, then a deciding vote
    assert result.usage.cached_votes == 0
    again = KnockoutSelector(judge, votes=3, order="per_match", early_stop="decided", seed=0).select("q", ["a", "b"])
    assert again.usage.cached_votes == 3 and judge.calls == 2
    assert again.best_index == result.best_index


def test_invalid_options() -> None:
    judge = ScriptedJudge.by_score(quality)
    with pytest.raises(InvalidArgumentError, match="unknown early_stop 'sometimes'"):
        KnockoutSelector(judge, early_stop="sometimes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="confidence must be in"):
        KnockoutSelector(judge, early_stop="confident", confidence=1.0)
    with pytest.raises(InvalidArgumentError, match="budget must be an integer >= 1"):
        EloSelector(judge, budget=0)
    with pytest.raises(InvalidArgumentError, match="deadline_s must be > 0"):
        EloSelector(judge, deadline_s=-1)
    with pytest.raises(InvalidArgumentError, match="finalists must be a power of two"):
        KnockoutSelector(judge, finalists=3)


# --- budget and deadline ---------------------------------------------------------------------


@pytest.mark.parametrize("budget", [1, 3, 6])
def test_knockout_budget_returns_the_best_so_far(budget: int) -> None:
    texts = texts_of(8)
    judge = ScriptedJudge.by_score(quality)
    result = KnockoutSelector(judge, budget=budget, seed=2).select("q", texts)
    assert judge.calls == result.usage.requests == budget
    assert result.stopped_early == "budget"
    played = [m for m in result.matches if m.decided_by != "unplayed"]
    assert len(played) == budget and len(result.matches) == 7
    assert all(not m.votes and m.requests == 0 for m in result.matches if m.decided_by == "unplayed")
    assert sorted(result.ranking) == list(range(8))
    # The champion never lost a played match.
    assert all(m.loser != result.best_index for m in played)


@pytest.mark.parametrize(("selector", "n"), [(KnockoutSelector, 16), (SwissSelector, 8)])
def test_a_budget_below_the_full_vote_count_plays_every_match_with_fewer_votes(selector: type, n: int) -> None:
    # Five votes in random order need two calls for most matches; with a call per match (and a
    # few over) the early matches give up votes instead of leaving later matches unplayed.
    texts = texts_of(n)
    matches = selector(ScriptedJudge.by_score(quality), seed=1).planned_matches(n)
    judge = ScriptedJudge.by_score(quality)
    result = selector(judge, votes=5, budget=matches + 2, seed=1).select("q", texts)
    assert result.stopped_early is None and len(result.matches) == matches
    assert all(m.decided_by == "majority" and m.requests >= 1 for m in result.matches)
    assert matches <= judge.calls == result.usage.requests <= matches + 2
    assert any(len(m.votes) < 5 for m in result.matches)  # the votes were what gave way
    assert result.best_index == best_of(texts)


def test_spare_calls_go_to_the_last_matches_to_start() -> None:
    # order="alternate" with 2 votes: every match wants two calls (one per order), the floor is
    # one. A surplus of two is shared only when every later match could get as much, so it ends
    # with the last two matches: the second semi-final to start and the final.
    result = KnockoutSelector(ScriptedJudge.by_score(quality), votes=2, order="alternate", budget=9, seed=0).select(
        "q", texts_of(8)
    )
    assert result.usage.requests == 9 and result.stopped_early is None
    by_round = [[m.requests for m in result.matches if m.round == r] for r in (1, 2, 3)]
    assert by_round[0] == [1, 1, 1, 1] and sorted(by_round[1]) == [1, 2] and by_round[2] == [2]


def test_order_both_never_gives_up_an_order_for_the_budget() -> None:
    # Every vote in both orders is that policy's promise: two calls is a match's floor.
    result = EloSelector(ScriptedJudge.by_score(quality), order="both", budget=7, seed=0).select("q", texts_of(4))
    played = [m for m in result.matches if m.decided_by != "unplayed"]
    assert len(played) == 3 and all(m.requests == 2 and len(m.votes) == 2 for m in played)
    assert result.stopped_early == "budget"


def test_budget_that_suffices_changes_nothing() -> None:
    texts = texts_of(8)
    full = EloSelector(ScriptedJudge.by_score(quality), seed=2).select("q", texts)
    capped = EloSelector(ScriptedJudge.by_score(quality), budget=28, seed=2).select("q", texts)
    assert capped.stopped_early is None and capped.ranking == full.ranking


def test_nothing_judged_is_an_error_not_a_guess() -> None:
    judge = ScriptedJudge(backend=HangsOnQualityZero.by_score(quality))
    with pytest.raises(DeadlineExceededError, match=r"no judge vote arrived within the selection's deadline of 0.2 s"):
        KnockoutSelector(judge, deadline_s=0.2, seed=0).select("q", ["quality 0", "quality 1"])
    # order="both" needs two calls for any match: a budget of one cannot pay for it.
    with pytest.raises(BudgetExhaustedError, match="a budget of 1 judge calls cannot pay for a single match"):
        EloSelector(ScriptedJudge.by_score(quality), order="both", budget=1).select("q", texts_of(3))


def test_budget_counts_resamples() -> None:
    attempts: dict[tuple[str, str], int] = {}

    class FirstTryGarbles(ScriptedBackend):
        def sample(self, prompt: Prompt) -> Sample:
            key = (prompt.request.first, prompt.request.second)
            attempts[key] = attempts.get(key, 0) + 1
            if attempts[key] == 1:
                return Sample("no verdict here", None, "stop", 0.0)
            return super().sample(prompt)

    judge = ScriptedJudge(backend=FirstTryGarbles.by_score(quality))
    result = EloSelector(judge, order="per_match", budget=5, seed=0).select("q", texts_of(4))
    assert judge.calls == result.usage.requests == 5
    assert result.stopped_early == "budget"
    # Each played pair took a call and a resample; the fifth call was a first attempt whose
    # resample had no room: that vote ends as an abstention.
    assert result.usage.resamples == 2 and result.usage.abstentions == 1


class HangsOnQualityZero(ScriptedBackend):
    """Answers in 10 ms, but never about the candidate of quality 0."""

    async def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        hangs = any(quality(p.request.first) == 0 or quality(p.request.second) == 0 for p in prompts)
        await asyncio.sleep(60 if hangs else 0.01)
        return await super().generate(prompts)


@pytest.mark.parametrize("selector", [KnockoutSelector, EloSelector])
def test_deadline_cancels_calls_and_returns_the_best_so_far(selector: type) -> None:
    texts = texts_of(8)
    judge = ScriptedJudge(backend=HangsOnQualityZero.by_score(quality))
    started = time.monotonic()
    result = selector(judge, deadline_s=0.5, seed=0).select("q", texts)
    assert time.monotonic() - started < 10  # bounded by the deadline, not by the hung calls
    assert result.stopped_early == "deadline"
    hung = [m for m in result.matches if 0 in (quality(texts[m.a]), quality(texts[m.b]))]
    assert hung and all(m.decided_by == "unplayed" and not m.votes for m in hung)
    assert all(m.decided_by in ("majority", "unplayed") for m in result.matches)
    assert sorted(result.ranking) == list(range(8))
    if selector is EloSelector:  # every other pair was played
        assert result.best_index == best_of(texts) and len(hung) == 7


# --- hedging ---------------------------------------------------------------------------------


class StragglingBackend(ScriptedBackend):
    """Answers in 10 ms, except that after 16 calls every 6th call hangs for a minute, unless
    it repeats a call already sent (a hedge)."""

    async def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        self.calls += len(prompts)
        sent = self.__dict__.setdefault("sent", [])  # kept alive, so identities stay unique
        repeat = any(earlier is prompts for earlier in sent)
        sent.append(prompts)
        await asyncio.sleep(60 if self.calls > 16 and self.calls % 6 == 0 and not repeat else 0.01)
        return [Generation([self.sample(p) for _ in range(p.n)]) for p in prompts]


def test_hedging_takes_the_duplicate_when_a_call_straggles() -> None:
    judge = ScriptedJudge(backend=StragglingBackend.by_score(quality), hedge=Hedge(min_observations=3, factor=4))
    texts = texts_of(16)
    started = time.monotonic()
    results = [KnockoutSelector(judge, order="per_match", seed=s).select("q", texts) for s in range(4)]
    assert time.monotonic() - started < 30  # no selection waited for a hung call
    assert all(r.best_index == best_of(texts) for r in results)
    hedges = sum(r.usage.hedges for r in results)
    assert hedges >= 4  # calls 18, 24, 30, ... hang; the first selection is the warm-up
    assert sum(r.usage.requests for r in results) == 4 * 15 + hedges == judge.calls


def test_hedging_respects_the_budget() -> None:
    judge = ScriptedJudge(backend=StragglingBackend.by_score(quality), hedge=Hedge(min_observations=1, factor=1))
    result = KnockoutSelector(judge, order="per_match", budget=7, deadline_s=2, seed=0).select("q", texts_of(8))
    assert result.usage.requests <= 7


# --- position bias ---------------------------------------------------------------------------


def test_flip_rate_of_a_judge_that_always_picks_the_first_position() -> None:
    judge = ScriptedJudge(lambda q, first, second: 1)
    result = EloSelector(judge, order="both", seed=0).select("q", texts_of(5))
    assert result.usage.order_pairs == 10 and result.usage.flip_rate == 1.0
    fair = EloSelector(ScriptedJudge.by_score(quality), votes=3, order="both", seed=0).select("q", texts_of(5))
    assert fair.usage.order_pairs == 10 * 9 and fair.usage.flip_rate == 0.0
    one_order = EloSelector(judge, votes=3, order="per_match", seed=0).select("q", texts_of(5))
    assert one_order.usage.order_pairs == 0 and one_order.usage.flip_rate is None


def test_flip_rate_of_a_noisy_judge_matches_its_noise() -> None:
    judge = ScriptedJudge.by_score(quality, accuracy=0.8, seed=5)
    usage = sum(
        (EloSelector(judge, order="both", seed=s).select("q", texts_of(6, s)).usage for s in range(30)),
        start=EloSelector(judge).select("q", ["x"]).usage,
    )
    # Two independent votes disagree with probability 2 * 0.8 * 0.2 = 0.32.
    assert usage.order_pairs == 30 * 15
    assert 0.32 - 0.07 < usage.flip_rate < 0.32 + 0.07  # type: ignore[operator]


# --- knockout then round robin ---------------------------------------------------------------


@pytest.mark.parametrize(("n", "finalists", "matches"), [(8, 4, 4 + 6), (16, 4, 12 + 6), (13, 2, 11 + 1), (3, 4, 3)])
def test_finalists_play_a_round_robin(n: int, finalists: int, matches: int) -> None:
    texts = texts_of(n, n)
    result = KnockoutSelector(ScriptedJudge.by_score(quality), finalists=finalists, seed=0).select("q", texts)
    assert len(result.matches) == matches
    assert result.best_index == best_of(texts)
    assert sorted(result.ranking) == list(range(n))
    top = [quality(texts[i]) for i in result.ranking[: min(n, finalists)]]
    assert top == sorted(top, reverse=True)


def test_the_best_finalist_may_lose_one_match_and_still_win() -> None:
    # Quality 6 beats quality 7 by two votes to one (an upset) but loses every other match
    # 3-0. A knockout drops 7 whenever it meets 6; the round robin among the four still ranks
    # 7 first, on 7 of its 9 votes against 6 of 9 for quality 5.
    upset_votes = itertools.count(1)  # each 6-7 match takes three in a row: 6, 6, then 7

    def prefer(query: str, first: str, second: str) -> Verdict:
        a, b = quality(first), quality(second)
        if {a, b} == {6, 7}:
            six_wins = next(upset_votes) % 3 != 0
            return 1 if (a == 6) == six_wins else 2
        if 6 in (a, b):
            return 2 if a == 6 else 1
        return 1 if a > b else 2

    texts = [f"answer {i}, quality {q}" for i, q in enumerate([5, 7, 4, 6])]
    for seed in range(6):
        options = {"votes": 3, "order": "per_match", "seed": seed}
        knockout = KnockoutSelector(ScriptedJudge(prefer), **options).select("q", texts)  # type: ignore[arg-type]
        playoff = KnockoutSelector(ScriptedJudge(prefer), finalists=4, **options).select("q", texts)  # type: ignore[arg-type]
        assert quality(playoff.best) == 7
        met = [m for m in knockout.matches if {quality(texts[m.a]), quality(texts[m.b])} == {6, 7}]
        assert quality(knockout.best) == (5 if met else 7)  # 6 beats 7, then loses the next match


# --- candidates still arriving ---------------------------------------------------------------


def test_matches_start_before_the_last_candidate_arrives() -> None:
    judged_at: list[float] = []
    arrived: dict[str, float] = {}

    class Recording(ScriptedBackend):
        async def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
            judged_at.append(time.monotonic())
            return await super().generate(prompts)

    async def arrive(text: str, after: float) -> str:
        await asyncio.sleep(after)
        arrived[text] = time.monotonic()
        return text

    texts = texts_of(8)
    judge = ScriptedJudge(backend=Recording.by_score(quality))
    selector = KnockoutSelector(judge, seed=0)
    delays = [0.0] * 7 + [0.5]

    async def main():  # type: ignore[no-untyped-def]
        return await selector.aselect_arriving("q", [arrive(t, d) for t, d in zip(texts, delays, strict=True)])

    result = asyncio.run(main())
    assert result.candidates == tuple(texts) and result.best_index == best_of(texts)
    assert len(result.matches) == 7
    assert sum(when < arrived[texts[7]] for when in judged_at) >= 3  # the other first-round matches


def test_identical_arrivals_are_decided_without_a_call() -> None:
    async def ready(text: str) -> str:
        return text

    judge = ScriptedJudge.by_score(quality)
    result = asyncio.run(EloSelector(judge, seed=0).aselect_arriving("q", [ready("quality 1"), ready("quality 1")]))
    assert judge.calls == 0 and result.matches[0].decided_by == "identical"


def test_an_arrival_that_is_not_text_fails_clearly() -> None:
    async def ready(text: object) -> object:
        return text

    async def main() -> None:
        selector = KnockoutSelector(ScriptedJudge.by_score(quality), seed=0)
        await selector.aselect_arriving("q", [ready("quality 1"), ready(b"quality 2")])  # type: ignore[list-item]

    with pytest.raises(InvalidArgumentError, match=r"candidates\[1\] must be a str, got bytes"):
        asyncio.run(main())


def test_a_failed_arrival_fails_the_selection_and_cancels_the_rest() -> None:
    pending: list[asyncio.Task[str]] = []

    async def never() -> str:
        await asyncio.sleep(60)
        return "never"

    async def broken() -> str:
        raise ConnectionError("generator went away")

    async def main() -> None:
        pending.append(asyncio.ensure_future(never()))
        await KnockoutSelector(ScriptedJudge.by_score(quality), seed=0).aselect_arriving("q", [pending[0], broken()])

    with pytest.raises(ConnectionError, match="generator went away"):
        asyncio.run(main())
    assert pending[0].cancelled()


@pytest.mark.parametrize("n", [2, 5, 8, 9])
def test_round_robin_schedule_is_balanced_rounds(n: int) -> None:
    schedule = circle_schedule(n, np.random.default_rng(n))
    assert sorted(schedule) == list(itertools.combinations(range(n), 2))
    per_round = n // 2
    for start in range(0, len(schedule), per_round):
        players = [c for pair in schedule[start : start + per_round] for c in pair]
        assert len(players) == len(set(players))  # each round: disjoint pairs


def test_elo_budget_spreads_matches_over_every_candidate() -> None:
    judge = ScriptedJudge.by_score(quality)
    result = EloSelector(judge, budget=32, seed=0).select("q", texts_of(16))
    played = [m for m in result.matches if m.decided_by != "unplayed"]
    games = [sum(c in (m.a, m.b) for m in played) for c in range(16)]
    assert len(played) == 32 and min(games) == max(games) == 4
    assert all(m.loser != result.best_index for m in played)  # the pick is unbeaten so far
