"""What every selector shares: input checks, seeding, playing a match, the sync facade, results.

A subclass implements `_tournament`, which decides which pairs to compare (awaiting `play` as
often as it likes, concurrently) and returns a ranking and scores over the distinct texts.
Duplicate candidates are folded before the tournament and unfolded in the result, so each
distinct text is judged once.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np

from rrm_select.errors import InvalidArgumentError
from rrm_select.judges.base import Judge, VoteRequest
from rrm_select.types import Match, Selection, Usage
from rrm_select.voting import OrderPolicy, check_order_policy, decide, plan_orders

T = TypeVar("T")


@dataclass
class Tournament:
    """One selection in progress: the distinct texts, its seed, and the matches played so far."""

    query: str
    texts: list[str]
    seed: int
    judge: Judge
    votes: int
    order: OrderPolicy
    matches: dict[tuple[int, ...], Match] = field(default_factory=dict)

    def rng(self, *key: int) -> np.random.Generator:
        """A generator for one purpose, derived from the seed alone so that results do not depend
        on which concurrent match happened to finish first."""
        return np.random.default_rng([self.seed, *key])

    async def play(self, a: int, b: int, round: int, key: tuple[int, ...]) -> Match:
        """Judge texts `a` and `b` with this tournament's votes and order policy."""
        rng = self.rng(1, *key)
        plan = plan_orders(self.order, self.votes, rng)
        coin = bool(rng.random() < 0.5)
        requests = []
        for swapped, count in plan.items():
            first, second = (b, a) if swapped else (a, b)
            requests.append(VoteRequest(self.query, self.texts[first], self.texts[second], count, (first, second)))
        ballots = await self.judge.ajudge(requests)
        votes = tuple(v for ballot in ballots for v in ballot.votes)
        winner, decided_by = decide(votes, a, b, coin)
        match = Match(
            a=a,
            b=b,
            round=round,
            votes=votes,
            winner=winner,
            decided_by=decided_by,
            requests=sum(ballot.requests for ballot in ballots),
            retries=sum(ballot.retries for ballot in ballots),
        )
        self.matches[key] = match
        return match


class Selector(ABC):
    """Picks the best of N candidates for a query with a pairwise judge.

    Args:
        judge: the pairwise judge (shared freely between selectors and selections).
        votes: samples per match; the majority of valid votes decides (see `rrm_select.voting`).
        order: which candidate each vote sees first (see `rrm_select.voting.OrderPolicy`).
        seed: fixes pairings, orders and tie-breaks; None draws a fresh seed per selection
            (recorded in `Selection.seed`, so any result can be replayed).
    """

    method: ClassVar[Literal["knockout", "elo"]]

    def __init__(self, judge: Judge, *, votes: int = 1, order: OrderPolicy = "random", seed: int | None = None) -> None:
        if not isinstance(judge, Judge):
            raise InvalidArgumentError(f"judge must be a rrm_select Judge, got {type(judge).__name__}")
        if not isinstance(votes, int) or isinstance(votes, bool) or votes < 1:
            raise InvalidArgumentError(f"votes must be an integer >= 1, got {votes!r}")
        if seed is not None and (not isinstance(seed, int) or seed < 0):
            raise InvalidArgumentError(f"seed must be a non-negative integer or None, got {seed!r}")
        self.judge = judge
        self.votes = votes
        self.order = check_order_policy(order)
        self.seed = seed
        self._loop = _LoopThread()

    def select(self, query: str, candidates: Sequence[str], *, seed: int | None = None) -> Selection:
        """The best of `candidates` for `query`. Safe to call inside a running event loop.

        `seed` overrides the selector's seed for this selection only.
        """
        return self._loop.run(self.aselect(query, candidates, seed=seed))

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on this selector's private event loop (what `select` does), from
        plain code or from inside a running loop."""
        return self._loop.run(coro)

    def select_many(self, queries: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[Selection]:
        """`select` for many queries at once (they share the judge's concurrency)."""
        return self._loop.run(self.aselect_many(queries, candidates))

    async def aselect(self, query: str, candidates: Sequence[str], *, seed: int | None = None) -> Selection:
        """Async `select`."""
        if seed is not None and (not isinstance(seed, int) or seed < 0):
            raise InvalidArgumentError(f"seed must be a non-negative integer or None, got {seed!r}")
        return await self._aselect(query, candidates, self.seed if seed is None else seed)

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
        jobs = (self._aselect(q, c, s) for q, c, s in zip(queries, candidates, seeds, strict=True))
        return list(await asyncio.gather(*jobs))

    @abstractmethod
    async def _tournament(self, t: Tournament) -> tuple[list[int], list[float]]:
        """Play the tournament; return the ranking (text indices, best first) and per-text scores."""

    async def _aselect(self, query: str, candidates: Sequence[str], seed: int | None) -> Selection:
        _check_input(query, candidates)
        started = time.monotonic()
        texts, text_of = _fold_duplicates(candidates)
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
        t = Tournament(query, texts, seed, self.judge, self.votes, self.order)
        ranking, scores = await self._tournament(t) if len(texts) > 1 else ([0], [0.0])
        return _result(self.method, t, list(candidates), text_of, ranking, scores, time.monotonic() - started)


def _check_input(query: object, candidates: object, where: str = "") -> None:
    if not isinstance(query, str):
        raise InvalidArgumentError(f"query{where} must be a str, got {type(query).__name__}")
    if isinstance(candidates, str) or not isinstance(candidates, Sequence):
        raise InvalidArgumentError(f"candidates{where} must be a sequence of strings, got {type(candidates).__name__}")
    if not candidates:
        raise InvalidArgumentError(f"candidates{where} is empty: need at least one candidate to select from")
    for i, text in enumerate(candidates):
        if not isinstance(text, str):
            raise InvalidArgumentError(f"candidates{where}[{i}] must be a str, got {type(text).__name__}")


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
    method: Literal["knockout", "elo"],
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
    usage = Usage(
        requests=sum(m.requests for m in matches),
        votes=len(votes),
        abstentions=sum(v.verdict is None for v in votes),
        retries=sum(m.retries for m in matches),
        resamples=sum(len(v.discarded) for v in paid),
        cached_votes=len(votes) - len(paid),
        prompt_tokens=sum(v.prompt_tokens for v in paid),
        completion_tokens=sum(v.completion_tokens for v in paid),
        cost_usd=sum(costs) if costs else None,
        wall_time_s=wall_time_s,
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
    )


def _renumber(match: Match, first_of: dict[int, int]) -> Match:
    votes = tuple(v.model_copy(update={"first": first_of[v.first], "second": first_of[v.second]}) for v in match.votes)
    return match.model_copy(
        update={"a": first_of[match.a], "b": first_of[match.b], "winner": first_of[match.winner], "votes": votes}
    )


class _LoopThread:
    """A private event loop on a daemon thread, started on first use.

    `select()` runs its coroutine here, so it works the same with or without an event loop
    already running in the caller's thread (Jupyter, FastAPI), and every sync call reuses one
    loop (HTTP clients cached by litellm stay valid between calls).
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="rrm-select-loop", daemon=True).start()
                # When the selector goes away, its thread ends (no thread leaked per selector). The
                # loop is stopped, not closed: litellm caches HTTP clients per loop and closes them
                # at exit, which fails noisily on a closed loop.
                weakref.finalize(self, self._loop.call_soon_threadsafe, self._loop.stop)
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C in the caller must not leave judge requests running
            raise
