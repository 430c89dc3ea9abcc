"""Answer-aware selection: no judge call between two candidates of one answer, the selection ends
once one answer is left, the winning answer's member is chosen by a stated rule, and answer
agreement can weigh in as a prior. Candidates here read "answer A, quality 7": the answer key
reads the letter, the scripted judge prefers the higher quality."""

from __future__ import annotations

import asyncio
import re

import pytest
from conftest import quality

from rrm_select import (
    EloSelector,
    InvalidArgumentError,
    KnockoutSelector,
    ScriptedJudge,
    Selection,
    SwissSelector,
)


def letter(text: str) -> str | None:
    found = re.search(r"answer (\w)\b", text)
    return found[1] if found else None


def field(answers: str, qualities: list[int]) -> list[str]:
    """Candidates from a string of answer letters ("-": no answer) and their qualities."""
    return [f"{'no answer' if a == '-' else f'answer {a}'}, quality {q}" for a, q in zip(answers, qualities, strict=True)]


def judge() -> ScriptedJudge:
    return ScriptedJudge.by_score(quality)


def judged(selection: Selection) -> list[tuple[int, int]]:
    return [(m.a, m.b) for m in selection.matches if m.decided_by not in ("same_answer", "identical")]


@pytest.mark.parametrize("seed", range(12))
def test_a_knockout_never_judges_two_of_one_answer_and_never_plays_more(seed: int) -> None:
    candidates = field("AABBBCA-", [1, 9, 3, 4, 2, 8, 5, 7])
    plain = KnockoutSelector(judge(), seed=seed).select("q", candidates)
    aware = KnockoutSelector(judge(), answer_key=letter, seed=seed).select("q", candidates)
    answers = aware.answers
    assert answers == ("A", "A", "B", "B", "B", "C", "A", None)
    for a, b in judged(aware):
        assert answers[a] is None or answers[a] != answers[b]
    assert aware.usage.requests <= plain.usage.requests == 7
    assert aware.best == "answer A, quality 9"  # the perfect judge's pick: A beats the rest
    assert sorted(aware.ranking) == list(range(8))  # every candidate is ranked


def test_when_every_candidate_gives_one_answer_nothing_is_judged() -> None:
    candidates = field("AAAA", [3, 8, 1, 6])
    for selector in (KnockoutSelector, EloSelector, SwissSelector):
        selection = selector(judge(), answer_key=letter, seed=0).select("q", candidates)
        assert selection.usage.requests == 0, selector.__name__
        assert sorted(selection.ranking) == [0, 1, 2, 3]
        assert selection.best_index == 0  # no votes won by anyone: the first by position


def test_a_knockout_ends_once_one_answer_is_left_and_marks_the_pairs_it_skipped() -> None:
    # Three of A and one B: one round pairs A-B and A-A (skipped); if A wins, A is all that is left.
    candidates = field("AAAB", [9, 1, 2, 5])
    selection = KnockoutSelector(judge(), answer_key=letter, seed=0).select("q", candidates)
    decisions = [m.decided_by for m in selection.matches]
    assert decisions.count("same_answer") >= 1
    skipped = [m for m in selection.matches if m.decided_by == "same_answer"]
    assert all(not m.votes for m in skipped) and selection.usage.requests == len(judged(selection))
    assert selection.answers is not None and selection.answers[selection.best_index] == "A"
    assert "same_answer" in {m["decided_by"] for m in selection.trace()["matches"]}


def test_round_robin_and_swiss_skip_pairs_of_one_answer() -> None:
    candidates = field("AABBC", [1, 9, 3, 4, 2])
    elo = EloSelector(judge(), answer_key=letter, seed=0).select("q", candidates)
    assert len(judged(elo)) == 10 - 2 and elo.usage.requests == 8
    swiss = SwissSelector(judge(), answer_key=letter, seed=0).select("q", candidates)
    assert all(swiss.answers[a] != swiss.answers[b] for a, b in judged(swiss))  # type: ignore[index]
    assert elo.best == swiss.best == "answer A, quality 9"


def test_planned_matches_learn_the_answers_so_a_budget_is_not_held_back() -> None:
    answers = ["A", "A", "B", "B", None]
    assert EloSelector(judge()).planned_matches(5, answers) == 10 - 2
    assert EloSelector(judge()).planned_matches(5) == 10
    knockout = KnockoutSelector(judge())
    assert knockout.planned_matches(4, ["A", "A", "A", "B"]) == 2  # one A-A pair is skipped for sure
    assert knockout.planned_matches(4, ["A"] * 4) == 0
    assert knockout.planned_matches(4, ["A", "B", None, None]) == 3
    # within_answer="judge" plans for its final among the largest group too.
    assert KnockoutSelector(judge(), within_answer="judge").planned_matches(4, ["A", "A", "A", "B"]) == 2 + 2
    # A budget of exactly the played matches pays for all of them (none held back for skipped pairs).
    candidates = field("AABB", [1, 9, 3, 4])
    selection = EloSelector(judge(), answer_key=letter, budget=4, seed=0).select("q", candidates)
    assert selection.stopped_early is None and selection.usage.requests == 4
    # With votes to spare, a skipped pair must not hand its share to another match's later waves.
    for selector, letters, budget in [(EloSelector, "AABB", 4), (EloSelector, "AABC", 8), (KnockoutSelector, "AAAAAB", 3)]:
        for seed in range(6):
            field_ = field(letters, list(range(len(letters))))
            chosen = selector(judge(), answer_key=letter, votes=3, budget=budget, seed=seed).select("q", field_)
            assert "unplayed" not in {m.decided_by for m in chosen.matches}, (selector.__name__, letters, seed)
    swiss = SwissSelector(judge(), answer_key=letter)
    assert swiss.planned_matches(8, list("AAAAAAAB")) == 4 * 1  # one player outside the largest group


def test_the_winning_answers_member_is_the_one_with_most_votes_or_the_judges_pick() -> None:
    # Answer A wins; within A, quality decides only if the judge compares the members.
    candidates = field("AAAB", [2, 9, 7, 1])
    by_votes = KnockoutSelector(judge(), answer_key=letter, votes=3, seed=1).select("q", candidates)
    winners_votes = {c: sum(v.winner == c for v in by_votes.votes) for c in range(4)}
    a_members = [c for c in range(3)]
    top = max(a_members, key=lambda c: (winners_votes[c], -c))
    assert by_votes.best_index == top
    by_judge = KnockoutSelector(judge(), answer_key=letter, within_answer="judge", seed=1).select("q", candidates)
    assert by_judge.best == "answer A, quality 9"
    finals = [m for m in by_judge.matches if m.decided_by == "majority" and {m.a, m.b} <= set(a_members)]
    assert finals  # the members of A were judged against each other at the end


def test_answer_prior_lets_agreement_outweigh_a_single_vote() -> None:
    # Four candidates say A (low quality), one says B (the judge's favourite).
    candidates = field("AAAAB", [1, 2, 3, 4, 9])
    plain = KnockoutSelector(judge(), answer_key=letter, seed=0).select("q", candidates)
    assert plain.best == "answer B, quality 9"
    weighted = KnockoutSelector(judge(), answer_key=letter, answer_prior=1.0, seed=0).select("q", candidates)
    assert weighted.answers[weighted.best_index] == "A"  # type: ignore[index]
    assert "answer_prior" in {m.decided_by for m in weighted.matches}
    # Three votes against a prior of ln 4 = 1.39: the judge's margin of 3 wins.
    outvoted = KnockoutSelector(judge(), answer_key=letter, answer_prior=1.0, votes=3, seed=0).select("q", candidates)
    assert outvoted.best == "answer B, quality 9"


def test_candidates_without_an_answer_take_part_as_usual() -> None:
    candidates = field("---A", [3, 9, 1, 2])
    selection = KnockoutSelector(judge(), answer_key=letter, seed=0).select("q", candidates)
    assert selection.best == "no answer, quality 9" and selection.usage.requests == 3


def test_arriving_candidates_skip_a_match_between_two_of_one_answer() -> None:
    async def arrive(text: str, delay: float) -> str:
        await asyncio.sleep(delay)
        return text

    async def main() -> Selection:
        texts = field("AABB", [1, 9, 3, 4])
        selector = KnockoutSelector(judge(), answer_key=letter, seed=0)
        return await selector.aselect_arriving("q", [arrive(t, 0.01 * i) for i, t in enumerate(texts)])

    selection = asyncio.run(main())
    assert selection.answers == ("A", "A", "B", "B")
    for match in selection.matches:
        same = selection.answers[match.a] == selection.answers[match.b]
        assert (match.decided_by == "same_answer") == same and bool(match.votes) != same


@pytest.mark.parametrize(
    ("key", "message"),
    [(lambda text: 1 / 0, r"candidates\[0\]"), (lambda text: 7 if "9" in text else "x", r"candidates\[1\]")],
)
def test_a_bad_answer_key_names_the_candidate(key: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        KnockoutSelector(judge(), answer_key=key).select("q", field("AB", [1, 9]))  # type: ignore[arg-type]


def test_an_empty_answer_is_no_answer_and_options_are_checked() -> None:
    selection = KnockoutSelector(judge(), answer_key=lambda text: "  ", seed=0).select("q", field("AB", [1, 9]))
    assert selection.answers == (None, None) and selection.usage.requests == 1
    for options, named in [({"answer_key": "boxed"}, "answer_key"), ({"within_answer": "best"}, "within_answer"),
                           ({"answer_prior": -1}, "answer_prior"), ({"answer_prior": 1.0}, "needs an answer_key")]:  # fmt: skip
        with pytest.raises(InvalidArgumentError, match=named):
            KnockoutSelector(judge(), **options)  # type: ignore[arg-type]
    for refuses in (EloSelector, SwissSelector):  # their ratings use the votes, not match decisions
        with pytest.raises(InvalidArgumentError, match="answer_prior"):
            refuses(judge(), answer_key=letter, answer_prior=1.0)
    with pytest.raises(InvalidArgumentError, match="answer_prior"):
        KnockoutSelector(judge(), answer_key=letter, answer_prior=1.0, finalists=2)


def test_without_an_answer_key_nothing_changes() -> None:
    candidates = field("AABB", [1, 9, 3, 4])
    selection = KnockoutSelector(judge(), seed=3).select("q", candidates)
    assert selection.answers is None and "answers" not in selection.trace()
    assert selection.usage.requests == 3


@pytest.mark.parametrize("seed", range(30))
def test_the_member_returned_was_never_beaten_and_a_pass_claims_no_preference(seed: int) -> None:
    noisy = ScriptedJudge.by_score(quality, accuracy=0.65, seed=seed)
    candidates = field("DAABBAADAA", [3, 1, 4, 1, 5, 9, 2, 6, 5, 8])
    selection = KnockoutSelector(noisy, answer_key=letter, votes=3, seed=seed).select("q", candidates)
    best = selection.best_index
    assert all(m.loser != best for m in selection.matches if m.votes)  # no judged match lost
    assert selection.scores[best] == max(selection.scores)
    for match in selection.matches:
        if match.decided_by == "same_answer":  # let through without a call: no score gap
            assert selection.scores[match.a] == selection.scores[match.b]
