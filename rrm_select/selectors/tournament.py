"""One selection in progress: the rules it plays by, and how one match is played.

A selector's tournament decides which pairs meet; `Tournament.play` judges a pair under the
selection's votes, order policy, early stop, thinking budgets, call and token budgets and
deadline. Selectors reason over *players*, the distinct texts (0 .. players-1), and get an
`Outcome` in those indices; the `Match` and `Vote` records are written once, in candidate
indices (each player stands for the first candidate holding its text), so the result needs no
renumbering.
"""

from __future__ import annotations

import asyncio
from collections import Counter
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypedDict

import numpy as np

from rrm_select.answers import AnswerKey, answers_of
from rrm_select.errors import BudgetExhaustedError
from rrm_select.fail_fast import gather_fail_fast
from rrm_select.judges.backend import VoteRequest
from rrm_select.judges.base import Ballot, Judge
from rrm_select.selectors.budget import CallBudget, TokenBudget
from rrm_select.selectors.checks import check_text
from rrm_select.types import Decision, Match, StopReason, Vote
from rrm_select.voting import EarlyStop, OrderPolicy, contested, count_orders, decide, next_wave, vote_orders


WithinAnswer = Literal["votes", "judge"]
"""Which member of the winning answer is returned: the one that won the most valid votes on its
way (ties by position), or the winner of a short knockout among the members."""


class SelectorOptions(TypedDict, total=False):
    """What every selector accepts besides its judge (see `Selector`)."""

    votes: int
    order: OrderPolicy
    early_stop: EarlyStop
    confidence: float
    budget: int | None
    token_budget: int | None
    deadline_s: float | None
    thinking_budgets: tuple[int, ...] | None
    answer_key: AnswerKey | None
    within_answer: WithinAnswer
    answer_prior: float
    seed: int | None


@dataclass(frozen=True)
class Outcome:
    """A played match in player indices: what a tournament needs to go on."""

    a: int
    b: int
    winner: int
    wins: tuple[int, int]
    """Valid votes for (a, b)."""
    round: int

    @property
    def loser(self) -> int:
        return self.b if self.winner == self.a else self.a


@dataclass
class Tournament:
    """One selection in progress: its players, seed and limits, and the matches played so far."""

    query: str
    texts: list[str]
    """The players' texts (filled as they arrive when `arrivals` is set)."""
    candidate_of: list[int]
    """The candidate index each player stands for in the records."""
    seed: int
    judge: Judge
    rules: SelectorOptions
    budget: CallBudget
    tokens: TokenBudget
    deadline: float | None = None
    """Event-loop time after which no judge call may run (None: no deadline)."""
    arrivals: Sequence[asyncio.Future[str]] | None = None
    """Texts still being generated (see `Selector.aselect_arriving`)."""
    answers: list[str | None] | None = None
    """Each player's answer under the answer key (None: no answer); None without a key. With
    `arrivals`, filled as the texts arrive."""
    agreement: Counter[str] = field(default_factory=Counter)
    """How many candidates give each answer (for `answer_prior`; with `arrivals`, of those
    arrived so far)."""
    matches: dict[tuple[int, ...], Match] = field(default_factory=dict)
    """The records, by the key each match was played under."""
    outcomes: dict[tuple[int, ...], Outcome] = field(default_factory=dict)
    arrived: set[int] = field(default_factory=set)
    """Players whose answer has been read on arrival."""
    contenders: list[int] | None = None
    """The players still in when an answer-aware knockout ended (None: every player of the
    winning answer contends, as in a round robin)."""
    stopped_early: StopReason | None = None

    def rng(self, *key: int) -> np.random.Generator:
        """A generator for one purpose, derived from the seed alone so that results do not depend
        on which concurrent match happened to finish first."""
        return np.random.default_rng([self.seed, *key])

    async def text(self, i: int) -> str:
        """Player `i`'s text, once it has arrived."""
        if self.arrivals is not None:
            text = await self.arrivals[i]
            check_text(text, f"candidates[{i}]")
            key = self.rules["answer_key"]
            if self.answers is not None and key is not None and i not in self.arrived:
                self.arrived.add(i)  # a player's answer is counted once, whatever it plays
                (self.answers[i],) = answers_of(key, [text], first=i)
                self.agreement.update(answer for answer in self.answers[i : i + 1] if answer is not None)
            self.texts[i] = text
        return self.texts[i]

    def same_answer(self, a: int, b: int) -> bool:
        """Whether players `a` and `b` give the same answer (no answer matches nothing)."""
        if self.answers is None:
            return False
        answer = self.answers[a]
        return answer is not None and answer == self.answers[b]

    def votes_won(self, player: int) -> int:
        """Valid votes player `player` has won in its matches so far."""
        candidate = self.candidate_of[player]
        return sum(1 for m in self.matches.values() for v in m.votes if v.winner == candidate)

    async def play(self, a: int, b: int, round: int, key: tuple[int, ...], *, judge_same: bool = False) -> Outcome:
        """Judge players `a` and `b` with this tournament's votes, order policy, early stop and
        thinking budgets, as far as its limits allow. Two of the same answer are not judged
        (``same_answer``) unless `judge_same`."""
        rng = self.rng(1, *key)
        slots = vote_orders(self.rules["order"], self.rules["votes"], rng)
        coin = bool(rng.random() < 0.5)
        text_a, text_b = await gather_fail_fast(self.text(a), self.text(b))
        texts = {a: text_a, b: text_b}
        ca, cb = self.candidate_of[a], self.candidate_of[b]
        votes: list[Vote] = []
        spent = Counter[str]()  # requests, retries and hedges of every wave
        asked = {False: 0, True: 0}  # votes asked per order so far: where the next wave's indices start
        cast = 0
        decided_by: Decision | None = "identical" if text_a == text_b else None
        if decided_by is None and not judge_same and self.same_answer(a, b):
            decided_by = "same_answer"
        # A match settled without a call was left out of the plan (unless answers were unknown
        # then, with candidates still arriving), so it takes no share of the budget.
        room = self.budget.start_match() if decided_by is None or self.arrivals is not None else 0
        thinking = self.rules["thinking_budgets"]
        step = 0  # which of the thinking budgets this match's next wave takes
        while decided_by is None and (size := self._wave(votes, ca, cb, cast, len(slots[0]))):
            if self.tokens.exhausted:
                self.stopped_early = self.stopped_early or "tokens"
                break
            groups = count_orders(slots[cast : cast + size])
            if not cast and room and len(groups) > room:
                # A tight budget: the largest order groups only (fewer votes), so that every
                # match still to come can be played.
                groups = dict(sorted(groups.items(), key=lambda group: -group[1])[:room])
            think = None if thinking is None else thinking[step]
            wave = []
            for swapped, count in groups.items():
                first, second = (b, a) if swapped else (a, b)
                pair = (self.candidate_of[first], self.candidate_of[second])
                wave.append(VoteRequest(self.query, texts[first], texts[second], count, pair, asked[swapped], think))
                asked[swapped] += count
            try:
                ballots = await self._ajudge(wave)
            except BudgetExhaustedError:
                self.stopped_early = self.stopped_early or "budget"
                break
            except _DeadlinePassed:
                self.stopped_early = self.stopped_early or "deadline"
                break
            cast += size
            for ballot in ballots:
                votes.extend(ballot.votes)
                self.tokens.spend(ballot.votes)
                spent.update(requests=ballot.requests, retries=ballot.retries, hedges=ballot.hedges)
            if thinking is not None and contested(votes):
                step = min(step + 1, len(thinking) - 1)
        if decided_by == "identical":
            winner = ca if coin else cb
        elif decided_by == "same_answer":
            won_a, won_b = self.votes_won(a), self.votes_won(b)
            winner = ca if (won_a, -ca) > (won_b, -cb) else cb
        elif votes:
            winner, decided_by = decide(votes, ca, cb, coin)
            winner, decided_by = self._with_prior(votes, a, b, winner, decided_by)
        else:
            winner, decided_by = self._unplayed_winner(ca, cb, coin), "unplayed"
        match = Match(a=ca, b=cb, round=round, votes=tuple(votes), winner=winner, decided_by=decided_by, **spent)
        outcome = Outcome(a, b, a if winner == ca else b, match.wins, round)
        self.matches[key], self.outcomes[key] = match, outcome
        return outcome

    def _with_prior(self, votes: list[Vote], a: int, b: int, winner: int, decided_by: Decision) -> tuple[int, Decision]:
        """The match's decision with the answers' agreement as a prior: ``answer_prior`` times the
        log ratio of how many candidates give each answer, added to the vote margin (a vote is
        worth 1). It decides only when it outweighs the margin."""
        weight = self.rules["answer_prior"]
        if not weight or self.answers is None:
            return winner, decided_by
        answer_a, answer_b = self.answers[a], self.answers[b]
        ca, cb = self.candidate_of[a], self.candidate_of[b]
        sizes = [self.agreement[answer] if answer is not None else 1 for answer in (answer_a, answer_b)]
        margin = sum(1 if v.winner == ca else -1 for v in votes if v.winner is not None)
        lean = margin + weight * math.log(max(sizes[0], 1) / max(sizes[1], 1))
        by_prior = ca if lean > 0 else cb if lean < 0 else winner
        return (by_prior, "answer_prior") if by_prior != winner else (winner, decided_by)

    def _wave(self, votes: list[Vote], a: int, b: int, cast: int, per_slot: int) -> int:
        """How many vote slots the next wave of this match casts (0: the match is over)."""
        tally = Counter(v.winner for v in votes)
        lead, trail = sorted((tally[a], tally[b]), reverse=True)
        rules = self.rules
        escalating = rules["thinking_budgets"] is not None
        return next_wave(
            lead, trail, cast, rules["votes"], per_slot, rules["early_stop"], rules["confidence"], escalating
        )

    async def _ajudge(self, requests: list[VoteRequest]) -> list[Ballot]:
        if self.deadline is None:
            return await self.judge.ajudge(requests, self.budget.take)
        timeout = asyncio.timeout_at(self.deadline)
        try:
            async with timeout:
                return await self.judge.ajudge(requests, self.budget.take)
        except TimeoutError as exc:
            if timeout.expired():
                raise _DeadlinePassed from exc
            raise

    def _unplayed_winner(self, a: int, b: int, coin: bool) -> int:
        """Best so far (candidates `a`, `b`): the one that won more of its matches (a seeded coin
        when even)."""
        won = Counter(m.winner for m in self.matches.values() if m.decided_by not in ("unplayed", "same_answer"))
        if won[a] != won[b]:
            return a if won[a] > won[b] else b
        return a if coin else b


class _DeadlinePassed(Exception):
    """The selection's deadline passed during a judge call (which was cancelled)."""
