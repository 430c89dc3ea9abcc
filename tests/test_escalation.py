"""Escalating thinking budgets (`thinking_budgets`) and the judge-token budget (`token_budget`):
which budget each wave of a match gets, what the dry run counts, and where a selection stops."""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import quality

from rrm_select import (
    EloSelector,
    InvalidArgumentError,
    KnockoutSelector,
    Prompt,
    RetryPolicy,
    Match,
    Sample,
    ScriptedBackend,
    ScriptedJudge,
    Selection,
    Selector,
    SwissSelector,
    match_cost,
)
from rrm_select.filter.cli import build_parser, main, make_judge, make_selector, render, settings_of
from rrm_select.settings import thinking_options
from rrm_select.judges.scripted import Preference
from rrm_select.voting import MatchCost, next_wave

SHORT, LONG = 1024, 8192
PROMPT_TOKENS, COMPLETION_TOKENS = 100, 10  # every vote of `Thinker`: 110 tokens


class Thinker(ScriptedBackend):
    """A scripted backend that can force verdicts, records the thinking budget of every sample,
    and answers by budget: `modes` maps a budget to ``"right"`` (follow quality), ``"abstain"``
    or ``"split"`` (right and wrong by turns, over all its samples); budgets not listed are right."""

    def __init__(
        self, modes: dict[int | None, str] | None = None, max_tokens: int | None = None, prefer: Preference | None = None
    ) -> None:
        super().__init__(prefer or (lambda query, first, second: 1 if quality(first) > quality(second) else 2))
        self.modes = modes or {}
        self.max_tokens = max_tokens
        self.seen: list[int | None] = []
        self._turn = 0

    def sample(self, prompt: Prompt) -> Sample:
        budget = prompt.thinking.tokens if prompt.thinking is not None else None
        self.seen.append(budget)
        right = self.prefer(prompt.request.query, prompt.request.first, prompt.request.second)
        mode = self.modes.get(budget, "right")
        if mode == "split":
            self._turn += 1
            mode = "right" if self._turn % 2 else "wrong"
        verdict = {"right": right, "wrong": 3 - right if right else None, "abstain": None}[mode]
        answer = "I cannot decide." if verdict is None else f"\\boxed{{Assistant {verdict}}}"
        return Sample(f"Thought.\n</think>\n\n{answer}", None, "stop", 0.0, PROMPT_TOKENS, COMPLETION_TOKENS)


def judge_of(backend: Thinker, **options: Any) -> ScriptedJudge:
    # No resamples: an abstention stays one sample, so `seen` lists one budget per vote.
    return ScriptedJudge(backend=backend, retry=RetryPolicy(resamples=0), **options)


def won(match: Match, candidate: int) -> int:
    """Valid votes `candidate` won in `match`."""
    return dict(zip((match.a, match.b), match.wins, strict=True))[candidate]


def pair() -> list[str]:
    return ["answer A, quality 1", "answer B, quality 2"]


def play(
    modes: dict[int | None, str] | None = None, budgets: tuple[int, ...] = (SHORT, LONG), **options: Any
) -> tuple[Selection, Thinker]:
    backend = Thinker(modes)
    options = {"votes": 3, "order": "per_match", "early_stop": "decided", "seed": 0, **options}
    return KnockoutSelector(judge_of(backend), thinking_budgets=budgets, **options).select("q", pair()), backend


# --- escalation --------------------------------------------------------------------------------


def test_an_easy_match_takes_only_its_first_wave_at_the_short_budget() -> None:
    result, backend = play()
    (match,) = result.matches
    assert backend.seen == [SHORT, SHORT] and len(match.votes) == 2  # decided: 2 of 3 votes settle it
    assert [v.thinking_budget for v in match.votes] == [SHORT, SHORT]
    assert match.winner == 1 and match.decided_by == "majority" and result.usage.requests == 1


@pytest.mark.parametrize("mode", ["split", "abstain"])
def test_a_contested_match_escalates_and_every_vote_counts(mode: str) -> None:
    result, backend = play({SHORT: mode})
    (match,) = result.matches
    assert backend.seen == [SHORT, SHORT, LONG]
    assert [v.thinking_budget for v in match.votes] == [SHORT, SHORT, LONG]
    assert match.winner == 1 and match.decided_by == "majority"
    # The short votes count too: split 1-1 then the long vote makes it 2-1; abstentions count as none.
    assert (won(match, 0), won(match, 1)) == ((1, 2) if mode == "split" else (0, 1))


def test_three_budgets_step_up_one_per_contested_wave() -> None:
    result, backend = play({256: "split", SHORT: "split"}, budgets=(256, SHORT, LONG), votes=7)
    # 4 votes could settle 7 (2-2), then 2 (3-3), then the last one.
    assert backend.seen == [256] * 4 + [SHORT] * 2 + [LONG]
    assert (won(result.matches[0], 0), won(result.matches[0], 1)) == (3, 4)


def test_the_last_budget_is_kept_for_every_further_contested_wave() -> None:
    result, backend = play({SHORT: "split", LONG: "split"}, votes=9)
    # 5 at the short budget (3-2), then the long one for every later wave: 2 (4-3), 1 (4-4), 1 (5-4).
    assert backend.seen == [SHORT] * 5 + [LONG] * 4
    assert (won(result.matches[0], 0), won(result.matches[0], 1)) == (4, 5)


@pytest.mark.parametrize(("mode", "second"), [("right", SHORT), ("split", LONG)], ids=["unanimous", "contested"])
def test_with_early_stop_off_the_rest_of_the_votes_go_in_a_second_wave(mode: str, second: int) -> None:
    result, backend = play({SHORT: mode}, early_stop="off")
    assert backend.seen == [SHORT, SHORT, second]  # all 3 votes: 2 first, then 1
    assert result.usage.requests == 2 == match_cost("per_match", 3, "off", escalating=True).most_requests
    assert len(result.matches[0].votes) == 3


def test_escalation_respects_the_call_budget() -> None:
    texts = [f"answer {i}, quality {q}" for i, q in enumerate([3, 7, 1, 5, 2, 8, 4, 6])]
    backend = Thinker({SHORT: "split"})
    selector = KnockoutSelector(judge_of(backend), votes=3, order="per_match", thinking_budgets=(SHORT, LONG),
                                budget=10, seed=0)  # fmt: skip
    result = selector.select("q", texts)
    assert result.usage.requests <= 10 and len(backend.seen) == sum(len(m.votes) for m in result.matches)
    assert all(m.decided_by != "unplayed" for m in result.matches)  # the budget holds every match's first wave
    assert result.stopped_early == "budget"  # 7 matches want 14 requests: some second waves went unpaid


@pytest.mark.parametrize(
    "make",
    [
        lambda j, **o: KnockoutSelector(j, **o),
        lambda j, **o: KnockoutSelector(j, finalists=2, **o),
        lambda j, **o: EloSelector(j, **o),
        lambda j, **o: SwissSelector(j, **o),
    ],
    ids=["knockout", "finalists", "elo", "swiss"],
)
def test_every_selector_escalates_and_the_trace_records_the_budgets(make: Callable[..., Selector]) -> None:
    texts = [f"answer {i}, quality {q}" for i, q in enumerate([3, 1, 4, 2])]

    def run() -> tuple[Selection, Thinker]:
        backend = Thinker({SHORT: "split"})
        selector = make(judge_of(backend), votes=3, order="alternate", thinking_budgets=(SHORT, LONG), seed=1)
        return selector.select("q", texts), backend

    result, backend = run()
    assert result.best_index == 2
    traced = [v["thinking_budget"] for m in result.trace()["matches"] for v in m["votes"]]
    assert sorted(traced) == sorted(backend.seen) and set(traced) == {SHORT, LONG}
    assert run()[0].trace() == result.trace()


def test_without_thinking_budgets_requests_carry_none() -> None:
    backend = Thinker()
    result = KnockoutSelector(judge_of(backend), votes=3, early_stop="decided", seed=0).select("q", pair())
    assert backend.seen == [None, None] and {v.thinking_budget for v in result.votes} == {None}


def test_match_cost_counts_escalations_two_waves_with_early_stop_off() -> None:
    assert match_cost("per_match", 3, "off") == MatchCost(1, 1, 3, 3)
    assert match_cost("per_match", 3, "off", escalating=True) == MatchCost(2, 2, 3, 3)
    # Alternating orders: the first wave's two votes take two requests, the last vote one more.
    assert match_cost("alternate", 5, "off", escalating=True) == MatchCost(4, 4, 5, 5)
    assert match_cost("random", 3, "off", escalating=True) == MatchCost(2, 3, 3, 3)
    assert match_cost("both", 3, "off", escalating=True) == MatchCost(4, 4, 6, 6)
    # Early stop already plays in waves: escalation leaves its counts as they are.
    assert match_cost("random", 5, "decided", escalating=True) == match_cost("random", 5, "decided")
    assert next_wave(0, 0, 0, 5, 1, "off", 0.95, escalating=True) == 3
    assert next_wave(2, 1, 3, 5, 1, "off", 0.95, escalating=True) == 2


@pytest.mark.parametrize("early_stop", ["off", "decided", "confident"])
@pytest.mark.parametrize("order", ["random", "per_match", "alternate", "both"])
@pytest.mark.parametrize("votes", [3, 5])
def test_match_cost_bounds_what_escalating_matches_spend_and_is_reached(order: str, votes: int, early_stop: str) -> None:
    coin = random.Random(0)
    # Votes for either side or none, at every budget (an abstention costs no request of its own).
    backend = Thinker(prefer=lambda query, first, second: coin.choice([1, 2, 2, None]))
    selector = EloSelector(judge_of(backend), votes=votes, order=order, early_stop=early_stop,  # type: ignore[arg-type]
                           thinking_budgets=(SHORT, LONG), seed=0)  # fmt: skip
    matches = [m for s in selector.select_many(["q"] * 60, [["a", "b", "c", "d"]] * 60) for m in s.matches]
    requests, cast = [m.requests for m in matches], [len(m.votes) for m in matches]
    cost = match_cost(order, votes, early_stop, escalating=True)  # type: ignore[arg-type]
    assert (min(requests), max(requests), min(cast), max(cast)) == tuple(cost)


@pytest.mark.parametrize(
    ("budgets", "options", "message"),
    [
        ((LONG, SHORT), {}, "thinking_budgets must be strictly increasing"),
        ((SHORT, SHORT), {}, "thinking_budgets must be strictly increasing"),
        ((SHORT,), {}, "thinking_budgets must be a tuple of two or more"),
        (SHORT, {}, "thinking_budgets must be a tuple of two or more"),
        ("1024,8192", {}, "thinking_budgets must be a tuple of two or more"),
        ((1024.0, LONG), {}, "thinking_budgets must be an integer >= 1"),
        ((0, LONG), {}, "thinking_budgets must be an integer >= 1"),
        ((True, LONG), {}, "thinking_budgets must be an integer >= 1"),
        ((SHORT, LONG), {"votes": 2}, "thinking_budgets needs votes >= 3, got votes=2"),
        ((SHORT, LONG), {"votes": 1}, "thinking_budgets needs votes >= 3, got votes=1"),
    ],
)
def test_bad_thinking_budgets_are_refused(budgets: object, options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        KnockoutSelector(judge_of(Thinker()), thinking_budgets=budgets, **{"votes": 3, **options})  # type: ignore


def test_a_judge_that_cannot_force_is_refused() -> None:
    plain = ScriptedJudge(lambda query, first, second: 1, forcing_modes=())  # a judge that cannot force
    with pytest.raises(InvalidArgumentError, match=r"cannot force .*\(thinking_budgets=1024\)"):
        KnockoutSelector(plain, votes=3, thinking_budgets=(SHORT, LONG))
    cut = judge_of(Thinker(max_tokens=4096))  # room for the short budget's answer, not the long one's
    with pytest.raises(InvalidArgumentError, match=r"max_tokens \(4096\) must be above thinking_budgets \(8192\)"):
        EloSelector(cut, votes=3, thinking_budgets=(SHORT, LONG))


# --- token budget ------------------------------------------------------------------------------


def three() -> list[str]:
    """Three candidates: a knockout plays one match (and a bye), then the final, one after the other."""
    return ["answer A, quality 1", "answer B, quality 3", "answer C, quality 2"]


def test_the_token_budget_stops_the_selection_before_the_next_wave() -> None:
    wave = 2 * (PROMPT_TOKENS + COMPLETION_TOKENS)  # a unanimous match: one wave of 2 votes
    judge = judge_of(Thinker())
    result = KnockoutSelector(judge, votes=3, early_stop="decided", token_budget=wave - 1, seed=0).select("q", three())
    assert result.stopped_early == "tokens"
    assert [m.decided_by for m in result.matches] == ["majority", "unplayed"]
    spent = result.usage.prompt_tokens + result.usage.completion_tokens
    assert wave - 1 <= spent < wave - 1 + wave
    # Enough for both matches: nothing is cut, as with no limit.
    unlimited = KnockoutSelector(judge, votes=3, early_stop="decided", token_budget=None, seed=0).select("q", three())
    ample = KnockoutSelector(judge, votes=3, early_stop="decided", token_budget=2 * wave, seed=0).select("q", three())
    assert unlimited.stopped_early is ample.stopped_early is None and ample.trace() == unlimited.trace()


def test_the_token_budget_also_stops_a_match_between_its_waves() -> None:
    result, backend = play({None: "split"}, budgets=None, votes=5, token_budget=1)  # type: ignore[arg-type]
    (match,) = result.matches
    assert result.stopped_early == "tokens" and backend.seen == [None] * 3  # the first wave only (2-1)
    assert match.decided_by == "majority" and (won(match, 0), won(match, 1)) == (1, 2)


def test_cached_votes_spend_no_tokens(tmp_path: Path) -> None:
    from rrm_select import JudgmentCache

    judge = judge_of(Thinker(), cache=JudgmentCache(tmp_path / "c.sqlite"))
    selector = KnockoutSelector(judge, votes=3, early_stop="decided", token_budget=100, seed=0)
    assert selector.select("q", three()).stopped_early == "tokens"
    KnockoutSelector(judge, votes=3, early_stop="decided", seed=0).select("q", three())  # fills the cache
    replay = selector.select("q", three())
    assert replay.stopped_early is None and replay.usage.cached_votes == 4


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "1000"])
def test_bad_token_budgets_are_refused(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="token_budget must be an integer >= 1 \\(judge tokens\\) or None"):
        KnockoutSelector(judge_of(Thinker()), token_budget=bad)  # type: ignore[arg-type]


# --- command line ------------------------------------------------------------------------------


def parse(*more: str) -> argparse.Namespace:
    return build_parser().parse_args(["select", "--query", "q", *more])


def test_the_command_line_options_reach_the_selector_and_the_judge() -> None:
    args = parse("--thinking-budgets", "1024,8192", "--votes", "3", "--token-budget", "5000",
                 "--thinking-budget", "2048", "--forcing", "client")  # fmt: skip
    assert args.thinking_budgets == (SHORT, LONG) and args.max_tokens is None
    selector = make_selector(judge_of(Thinker()), args)
    assert selector.rules["thinking_budgets"] == (SHORT, LONG) and selector.rules["token_budget"] == 5000
    assert thinking_options(settings_of(args)) == {"thinking_budget": 2048, "forcing": "client"}
    assert thinking_options(settings_of(parse())) == {}  # nothing given: the judge's own defaults


def test_bad_thinking_budgets_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse("--thinking-budgets", "1024,lots")
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "argument --thinking-budgets: want comma-separated token counts" in err
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1, "prompt": "q", "responses": ["a 1", "b 2"]}\n')
    dry = ["filter", str(source), "-o", str(tmp_path / "o.jsonl"), "--dry-run", "--model", "m", "--votes", "3"]
    assert main([*dry, "--thinking-budgets", "8192,1024"]) == 2
    assert "thinking_budgets must be strictly increasing" in capsys.readouterr().err


def dry_run(tmp_path: Path, capsys: pytest.CaptureFixture, *options: str) -> tuple[int, str]:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": 1, "prompt": "q", "responses": [f"answer {i}" for i in range(8)]}) + "\n")
    code = main(["filter", str(source), "-o", str(tmp_path / "o.jsonl"), "--dry-run", "--model", "m", *options])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_the_dry_run_counts_escalation(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, report = dry_run(tmp_path, capsys, "--votes", "3", "--order", "per_match", "--thinking-budgets", "1024,8192")
    assert code == 0, report
    assert "judge requests: 14;" in report and "votes: 21\n" in report  # 7 matches, two waves each
    assert f"({LONG + 256} per vote)" in report and f'"max_tokens": {SHORT + 256}' in report
    code, report = dry_run(tmp_path, capsys, "--thinking-budget", "2048", "--token-budget", "9000")
    assert code == 0, report
    assert "(2304 per vote)" in report and "the token budget may stop a selection sooner" in report
    code, report = dry_run(tmp_path, capsys, "--votes", "3", "--thinking-budgets", "1024,8192", "--max-tokens", "4096")
    assert code == 2 and "max_tokens (4096) must be above thinking_budgets (8192)" in report


def test_select_prints_a_stop_by_tokens_and_forced_votes() -> None:
    result = KnockoutSelector(judge_of(Thinker()), votes=3, early_stop="decided", token_budget=1, seed=0).select(
        "q", three()
    )
    shown = render(result)
    assert "stopped early (tokens: 220 judge tokens spent): the best so far" in shown
    forced = result.model_copy(update={"usage": result.usage.model_copy(update={"forced_votes": 2})})
    assert "(0 abstained, 2 forced at the thinking budget)" in render(forced)
    assert "forced" not in shown


def test_the_judge_options_reach_the_endpoint_judges() -> None:
    for client in ("http", "litellm"):
        args = parse("--client", client, "--model", "judge", "--api-base", "http://127.0.0.1:9/v1",
                     "--thinking-budget", "512", "--forcing", "client")  # fmt: skip
        with make_judge(args) as judge:
            assert (judge.thinking_budget, judge.forcing) == (512, "client")
