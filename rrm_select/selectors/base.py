"""What every selector shares: input checks, seeding, playing a match, the sync facade, results.

A subclass implements `_tournament`, which decides which pairs to compare (awaiting `play` as
often as it likes, concurrently) and returns a ranking and scores over the distinct texts.
Duplicate candidates are folded before the tournament and unfolded in the result, so each
distinct text is judged once.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, NoReturn, TypedDict

import numpy as np

from rrm_select.conversation import unicode_error
from rrm_select.errors import BudgetExhaustedError, DeadlineExceededError, InvalidArgumentError
from rrm_select.fail_fast import gather_fail_fast
from rrm_select.judges.backend import VoteRequest
from rrm_select.judges.base import Ballot, Judge
from rrm_select.selectors.budget import CallBudget
from rrm_select.sync_loop import run_sync
from rrm_select.types import Decision, Match, Method, Selection, StopReason, Usage, Vote
from rrm_select.voting import (
    EarlyStop,
    OrderPolicy,
    check_early_stop,
    check_order_policy,
    count_orders,
    decide,
    next_wave,
    order_disagreements,
    vote_orders,
)


@dataclass
class Tournament:
    """One selection in progress: its texts, seed and limits, and the matches played so far."""

    query: str
    texts: list[str]
    seed: int
    judge: Judge
    rules: SelectorOptions
    budget: CallBudget
    deadline: float | None = None
    """Event-loop time after which no judge call may run (None: no deadline)."""
    arrivals: Sequence[asyncio.Future[str]] | None = None
    """Texts still being generated (see `Selector.aselect_arriving`); `texts` is filled as they come."""
    matches: dict[tuple[int, ...], Match] = field(default_factory=dict)
    stopped_early: StopReason | None = None

    def rng(self, *key: int) -> np.random.Generator:
        """A generator for one purpose, derived from the seed alone so that results do not depend
        on which concurrent match happened to finish first."""
        return np.random.default_rng([self.seed, *key])

    async def text(self, i: int) -> str:
        """Text `i`, once it has arrived."""
        if self.arrivals is not None:
            text = await self.arrivals[i]
            _check_text(text, f"candidates[{i}]")
            self.texts[i] = text
        return self.texts[i]

    async def play(self, a: int, b: int, round: int, key: tuple[int, ...]) -> Match:
        """Judge texts `a` and `b` with this tournament's votes, order policy and early stop."""
        rng = self.rng(1, *key)
        slots = vote_orders(self.rules["order"], self.rules["votes"], rng)
        coin = bool(rng.random() < 0.5)
        text_a, text_b = await gather_fail_fast(self.text(a), self.text(b))
        texts = {a: text_a, b: text_b}
        votes: list[Vote] = []
        spent = Counter[str]()  # requests, retries and hedges of every wave
        asked = {False: 0, True: 0}  # votes asked per order so far: where the next wave's indices start
        cast = 0
        decided_by: Decision | None = "identical" if texts[a] == texts[b] else None
        room = self.budget.start_match()
        while decided_by is None and (size := self._wave(votes, a, b, cast, len(slots[0]))):
            groups = count_orders(slots[cast : cast + size])
            if not cast and room and len(groups) > room:
                # A tight budget: the largest order groups only (fewer votes), so that every
                # match still to come can be played.
                groups = dict(sorted(groups.items(), key=lambda group: -group[1])[:room])
            wave = []
            for swapped, count in groups.items():
                first, second = (b, a) if swapped else (a, b)
                wave.append(
                    VoteRequest(self.query, texts[first], texts[second], count, (first, second), asked[swapped])
                )
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
                spent.update(requests=ballot.requests, retries=ballot.retries, hedges=ballot.hedges)
        if decided_by == "identical":
            winner = a if coin else b
        elif votes:
            winner, decided_by = decide(votes, a, b, coin)
        else:
            winner, decided_by = self._unplayed_winner(a, b, coin), "unplayed"
        match = Match(a=a, b=b, round=round, votes=tuple(votes), winner=winner, decided_by=decided_by, **spent)
        self.matches[key] = match
        return match

    def _wave(self, votes: list[Vote], a: int, b: int, cast: int, per_slot: int) -> int:
        """How many vote slots the next wave of this match casts (0: the match is over)."""
        tally = Counter(v.winner for v in votes)
        lead, trail = sorted((tally[a], tally[b]), reverse=True)
        rules = self.rules
        return next_wave(lead, trail, cast, rules["votes"], per_slot, rules["early_stop"], rules["confidence"])

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
        """Best so far: the entrant that won more of its matches (a seeded coin when even)."""
        won = Counter(m.winner for m in self.matches.values() if m.decided_by != "unplayed")
        if won[a] != won[b]:
            return a if won[a] > won[b] else b
        return a if coin else b


class _DeadlinePassed(Exception):
    """The selection's deadline passed during a judge call (which was cancelled)."""


class SelectorOptions(TypedDict, total=False):
    """What every selector accepts besides its judge (see `Selector`)."""

    votes: int
    order: OrderPolicy
    early_stop: EarlyStop
    confidence: float
    budget: int | None
    deadline_s: float | None
    seed: int | None


class Selector(ABC):
    """Picks the best of N candidates for a query with a pairwise judge.

    Args:
        judge: the pairwise judge (shared freely between selectors and selections).
        votes: samples per match; the majority of valid votes decides (see `rrm_select.voting`).
        order: which candidate each vote sees first (see `rrm_select.voting.OrderPolicy`).
        early_stop: ``"off"`` (all votes at once), ``"decided"`` (votes in waves, stopping once
            the majority cannot change) or ``"confident"`` (also stopping once the leader's lead
            reaches `confidence`); see `rrm_select.voting`.
        confidence: the posterior probability ``"confident"`` stops at.
        budget: the most judge calls one selection may make (see `CallBudget` for what counts).
            If it pays for one call per planned match (two with ``order="both"``), every match is
            played and votes give way instead; if it runs out, the result is the best so far and
            says so in `stopped_early`.
        deadline_s: seconds one selection may spend judging; calls still running then are
            cancelled, and the result is the best so far, as with the budget.
        seed: fixes pairings, orders and tie-breaks; None draws a fresh seed per selection
            (recorded in `Selection.seed`, so any result can be replayed).
    """

    method: ClassVar[Method]

    def __init__(
        self,
        judge: Judge,
        *,
        votes: int = 1,
        order: OrderPolicy = "random",
        early_stop: EarlyStop = "off",
        confidence: float = 0.95,
        budget: int | None = None,
        deadline_s: float | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(judge, Judge):
            raise InvalidArgumentError(f"judge must be a rrm_select Judge, got {type(judge).__name__}")
        if not isinstance(votes, int) or isinstance(votes, bool) or votes < 1:
            raise InvalidArgumentError(f"votes must be an integer >= 1, got {votes!r}")
        if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool) or budget < 1):
            raise InvalidArgumentError(f"budget must be an integer >= 1 (judge calls) or None, got {budget!r}")
        if deadline_s is not None and not deadline_s > 0:
            raise InvalidArgumentError(f"deadline_s must be > 0 seconds or None, got {deadline_s!r}")
        _check_seed(seed)
        self.judge = judge
        self.rules = SelectorOptions(
            votes=votes,
            order=check_order_policy(order),
            early_stop=check_early_stop(early_stop, confidence),
            confidence=confidence,
            budget=budget,
            deadline_s=deadline_s,
        )
        self.seed = seed

    @property
    def votes(self) -> int:
        return self.rules["votes"]

    @property
    def order(self) -> OrderPolicy:
        return self.rules["order"]

    def select(self, query: str, candidates: Sequence[str], *, seed: int | None = None) -> Selection:
        """The best of `candidates` for `query`. Safe to call inside a running event loop.

        `seed` overrides the selector's seed for this selection only.
        """
        return run_sync(self.aselect(query, candidates, seed=seed))

    def select_many(self, queries: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[Selection]:
        """`select` for many queries at once (they share the judge's concurrency)."""
        return run_sync(self.aselect_many(queries, candidates))

    async def aselect(self, query: str, candidates: Sequence[str], *, seed: int | None = None) -> Selection:
        """Async `select`."""
        _check_seed(seed)
        _check_input(query, candidates)
        texts, text_of = _fold_duplicates(candidates)
        return await self._run(query, list(candidates), texts, text_of, None, self.seed if seed is None else seed)

    async def aselect_arriving(
        self, query: str, candidates: Sequence[Awaitable[str]], *, seed: int | None = None
    ) -> Selection:
        """`aselect` over candidates still being generated (tasks, futures, coroutines).

        A match starts as soon as both of its texts have arrived, so judging overlaps with
        generation. The bracket is drawn over candidate positions up front; duplicate texts are
        not folded beforehand (they are unknown yet): two identical texts that meet are decided
        without a call (``decided_by="identical"``). If a candidate fails, the selection fails
        with its error and the other candidates are cancelled.
        """
        _check_seed(seed)
        if isinstance(candidates, str) or not isinstance(candidates, Sequence) or not candidates:
            raise InvalidArgumentError("candidates must be a non-empty sequence of awaitables")
        _check_text(query, "query")
        arrivals = [asyncio.ensure_future(c) for c in candidates]
        try:
            return await self._run(
                query,
                [],
                [""] * len(arrivals),
                list(range(len(arrivals))),
                arrivals,
                self.seed if seed is None else seed,
            )
        finally:
            for arrival in arrivals:
                arrival.cancel()

    async def aselect_many(self, queries: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[Selection]:
        """Async `select_many`. With a seed, query i uses a seed derived from (seed, i)."""
        if isinstance(queries, str) or len(queries) != len(candidates):
            raise InvalidArgumentError(
                "queries and candidates must be sequences of equal length "
                f"(one candidate list per query), got {len(queries)} and {len(candidates)}"
            )
        seeds = [None if self.seed is None else derive_seed(self.seed, i) for i in range(len(queries))]
        for i, (query, texts) in enumerate(zip(queries, candidates, strict=True)):
            _check_input(query, texts, where=f"[{i}]")
        return list(
            await gather_fail_fast(
                *(self.aselect(q, c, seed=s) for q, c, s in zip(queries, candidates, seeds, strict=True))
            )
        )

    @abstractmethod
    def planned_matches(self, n: int) -> int:
        """How many matches a selection among `n` distinct candidates plays (what a budget plans for)."""

    @abstractmethod
    async def _tournament(self, t: Tournament) -> tuple[list[int], list[float]]:
        """Play the tournament; return the ranking (text indices, best first) and per-text scores."""

    async def _run(
        self,
        query: str,
        candidates: list[str],
        texts: list[str],
        text_of: list[int],
        arrivals: Sequence[asyncio.Future[str]] | None,
        seed: int | None,
    ) -> Selection:
        started = time.monotonic()
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
        deadline_s = self.rules["deadline_s"]
        deadline = None if deadline_s is None else asyncio.get_running_loop().time() + deadline_s
        budget = CallBudget(self.rules["budget"])
        budget.plan(self.planned_matches(len(texts)), floor=2 if self.order == "both" else 1)
        t = Tournament(query, texts, seed, self.judge, self.rules, budget, deadline, arrivals)
        ranking, scores = await self._tournament(t) if len(texts) > 1 else ([0], [0.0])
        if t.budget.refused and t.stopped_early is None:  # a top-up or resample went unpaid
            t.stopped_early = "budget"
        if t.stopped_early and not any(m.votes for m in t.matches.values()):
            _raise_nothing_judged(t)
        if arrivals is not None:  # every text has arrived by now (each one played a match)
            candidates = [await arrival for arrival in arrivals]
        return _result(self.method, t, candidates, text_of, ranking, scores, time.monotonic() - started)


def _raise_nothing_judged(t: Tournament) -> NoReturn:
    """A selection cut short before any vote has no best so far: say why instead of guessing."""
    if t.stopped_early == "deadline":
        raise DeadlineExceededError(
            f"no judge vote arrived within the selection's deadline of {t.rules['deadline_s']} s (judge {t.judge.name})"
        )
    raise BudgetExhaustedError(f"a budget of {t.rules['budget']} judge calls cannot pay for a single match")


def _check_seed(seed: object) -> None:
    if seed is not None and (not isinstance(seed, int) or seed < 0):
        raise InvalidArgumentError(f"seed must be a non-negative integer or None, got {seed!r}")


def _check_text(value: object, name: str) -> None:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{name} must be a str, got {type(value).__name__}")
    if (error := unicode_error(value)) is not None:
        raise InvalidArgumentError(
            f"{name} is not valid Unicode text: {error.reason} at position {error.start}"
        ) from error


def _check_input(query: object, candidates: object, where: str = "") -> None:
    _check_text(query, f"query{where}")
    if isinstance(candidates, str) or not isinstance(candidates, Sequence):
        raise InvalidArgumentError(f"candidates{where} must be a sequence of strings, got {type(candidates).__name__}")
    if not candidates:
        raise InvalidArgumentError(f"candidates{where} is empty: need at least one candidate to select from")
    for i, text in enumerate(candidates):
        _check_text(text, f"candidates{where}[{i}]")


def _fold_duplicates(candidates: Sequence[str]) -> tuple[list[str], list[int]]:
    """Distinct texts in first-seen order, and for each candidate the index of its text."""
    index: dict[str, int] = {}
    text_of = [index.setdefault(text, len(index)) for text in candidates]
    return list(index), text_of


def derive_seed(seed: int, key: int | str) -> int:
    """A seed for one item of a batch (a query index, a dataset row id), derived from `seed`."""
    if isinstance(key, str):
        key = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return int(np.random.SeedSequence([seed, key]).generate_state(1, np.uint64)[0])


def _result(
    method: Method,
    t: Tournament,
    candidates: list[str],
    text_of: list[int],
    ranking: list[int],
    scores: list[float],
    wall_time_s: float,
) -> Selection:
    # Matches and votes name the first candidate holding each text; the ranking lists every
    # candidate, duplicates next to the first of their text.
    first_of = {text: text_of.index(text) for text in range(len(t.texts))}
    members: dict[int, list[int]] = {}
    for candidate, text in enumerate(text_of):
        members.setdefault(text, []).append(candidate)
    matches = tuple(
        _renumber(t.matches[key], first_of) for key in sorted(t.matches, key=lambda k: (t.matches[k].round, k))
    )
    votes = [v for m in matches for v in m.votes]
    paid = [v for v in votes if not v.cached]
    costs = [v.cost_usd for v in paid if v.cost_usd is not None]
    flips = [order_disagreements(m.votes) for m in matches]
    usage = Usage(
        requests=sum(m.requests for m in matches),
        votes=len(votes),
        abstentions=sum(v.verdict is None for v in votes),
        retries=sum(m.retries for m in matches),
        resamples=sum(len(v.discarded) for v in paid),
        hedges=sum(m.hedges for m in matches),
        cached_votes=len(votes) - len(paid),
        prompt_tokens=sum(v.prompt_tokens for v in paid),
        completion_tokens=sum(v.completion_tokens for v in paid),
        cost_usd=sum(costs) if costs else None,
        wall_time_s=wall_time_s,
        order_pairs=sum(pairs for pairs, _ in flips),
        order_flips=sum(flipped for _, flipped in flips),
    )
    return Selection(
        query=t.query,
        candidates=tuple(candidates),
        method=method,
        best_index=first_of[ranking[0]],
        ranking=tuple(c for text in ranking for c in members[text]),
        scores=tuple(float(scores[text]) for text in text_of),
        matches=matches,
        usage=usage,
        seed=t.seed,
        stopped_early=t.stopped_early,
    )


def _renumber(match: Match, first_of: dict[int, int]) -> Match:
    votes = tuple(v.model_copy(update={"first": first_of[v.first], "second": first_of[v.second]}) for v in match.votes)
    return match.model_copy(
        update={"a": first_of[match.a], "b": first_of[match.b], "winner": first_of[match.winner], "votes": votes}
    )
