"""What every selector shares: input checks, seeding, the sync facade, the result.

A subclass implements `_tournament`, which decides which pairs to compare (awaiting
`Tournament.play` as often as it likes, concurrently) and returns a ranking and scores over the
players. Duplicate candidates are folded into one player before the tournament, so each
distinct text is judged once; the result lists every candidate.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Sequence
from typing import ClassVar, NoReturn, get_args

import numpy as np

from rrm_select.answers import AnswerKey, answers_of
from rrm_select.errors import BudgetExhaustedError, DeadlineExceededError, InvalidArgumentError
from rrm_select.fail_fast import gather_fail_fast
from rrm_select.judges.backend import check_positive_int
from rrm_select.judges.base import Judge
from rrm_select.selectors.budget import CallBudget, TokenBudget, paid
from rrm_select.selectors.checks import check_input, check_seed, check_text
from rrm_select.selectors.answer_groups import best_of_answer, final_bound
from rrm_select.selectors.tournament import SelectorOptions, Tournament, WithinAnswer
from rrm_select.sync_loop import run_sync
from rrm_select.types import Match, Method, Selection, Usage
from rrm_select.voting import EarlyStop, OrderPolicy, check_early_stop, check_order_policy, order_disagreements


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
        token_budget: the most judge tokens (prompt and completion, of votes not served by the
            cache) one selection may spend. Checked before each wave of every match: once spent,
            no further wave starts (waves already out still count, so a selection may end
            slightly above it), and the result is the best so far, as with the budget
            (``stopped_early="tokens"``).
        deadline_s: seconds one selection may spend judging; calls still running then are
            cancelled, and the result is the best so far, as with the budget.
        thinking_budgets: escalation, e.g. ``(1024, 8192)``: two or more strictly increasing
            reasoning budgets (tokens per vote) that the judge can force (see `Judge`), and
            ``votes >= 3``. A match's first wave is early stop's first wave (``"decided"``'s with
            ``early_stop="off"``: the fewest votes that could settle it) at the first budget; after
            each wave that leaves it contested (valid votes split, or any abstention) its further
            waves take the next budget, staying at the last. Further waves follow `early_stop`
            (with ``"off"``, the rest of the votes in one second wave); every vote counts in the
            majority and records its budget (`Vote.thinking_budget`). None: every vote at the
            judge's own budget.
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
        token_budget: int | None = None,
        deadline_s: float | None = None,
        thinking_budgets: tuple[int, ...] | None = None,
        answer_key: AnswerKey | None = None,
        within_answer: WithinAnswer = "votes",
        answer_prior: float = 0.0,
        seed: int | None = None,
    ) -> None:
        if not isinstance(judge, Judge):
            raise InvalidArgumentError(f"judge must be a rrm_select Judge, got {type(judge).__name__}")
        if not isinstance(votes, int) or isinstance(votes, bool) or votes < 1:
            raise InvalidArgumentError(f"votes must be an integer >= 1, got {votes!r}")
        _check_limit("budget", budget, "judge calls")
        _check_limit("token_budget", token_budget, "judge tokens")
        if deadline_s is not None and not deadline_s > 0:
            raise InvalidArgumentError(f"deadline_s must be > 0 seconds or None, got {deadline_s!r}")
        check_seed(seed)
        if answer_key is not None and not callable(answer_key):
            raise InvalidArgumentError(f"answer_key must be a callable (text -> str | None), got {answer_key!r}")
        if within_answer not in get_args(WithinAnswer):
            raise InvalidArgumentError(f"within_answer must be 'votes' or 'judge', got {within_answer!r}")
        if isinstance(answer_prior, bool) or not isinstance(answer_prior, int | float) or not answer_prior >= 0:
            raise InvalidArgumentError(f"answer_prior must be a number >= 0, got {answer_prior!r}")
        if answer_prior and answer_key is None:
            raise InvalidArgumentError("answer_prior needs an answer_key (the answers whose agreement it weighs)")
        self.judge = judge
        self.rules = SelectorOptions(
            votes=votes,
            order=check_order_policy(order),
            early_stop=check_early_stop(early_stop, confidence),
            confidence=confidence,
            budget=budget,
            token_budget=token_budget,
            deadline_s=deadline_s,
            thinking_budgets=None if thinking_budgets is None else _check_escalation(judge, thinking_budgets, votes),
            answer_key=answer_key,
            within_answer=within_answer,
            answer_prior=float(answer_prior),
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
        check_seed(seed)
        check_input(query, candidates)
        texts, player_of = _fold_duplicates(candidates)
        return await self._run(query, list(candidates), texts, player_of, None, self.seed if seed is None else seed)

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
        check_seed(seed)
        if isinstance(candidates, str) or not isinstance(candidates, Sequence) or not candidates:
            raise InvalidArgumentError("candidates must be a non-empty sequence of awaitables")
        check_text(query, "query")
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
            check_input(query, texts, where=f"[{i}]")
        return list(
            await gather_fail_fast(
                *(self.aselect(q, c, seed=s) for q, c, s in zip(queries, candidates, seeds, strict=True))
            )
        )

    def planned_matches(self, n: int, answers: Sequence[str | None] | None = None) -> int:
        """How many judged matches a selection among `n` distinct candidates plays, at most (what
        a budget plans for); given their `answers` (under the answer key), only the matches
        between different answers, and the final among the winning answer's members that
        ``within_answer="judge"`` plays."""
        extra = 0 if answers is None else final_bound(answers, self.rules["within_answer"])
        return self._planned(n, answers) + extra

    @abstractmethod
    def _planned(self, n: int, answers: Sequence[str | None] | None) -> int:
        """`planned_matches` for this selector's own pairing rule."""

    @abstractmethod
    async def _tournament(self, t: Tournament) -> tuple[list[int], list[float]]:
        """Play the tournament; return the ranking (players, best first) and per-player scores."""

    async def _run(
        self,
        query: str,
        candidates: list[str],
        texts: list[str],
        player_of: list[int],
        arrivals: Sequence[asyncio.Future[str]] | None,
        seed: int | None,
    ) -> Selection:
        started = time.monotonic()
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
        deadline_s = self.rules["deadline_s"]
        deadline = None if deadline_s is None else asyncio.get_running_loop().time() + deadline_s
        members: dict[int, list[int]] = {}  # the candidates holding each player's text, first one first
        for candidate, player in enumerate(player_of):
            members.setdefault(player, []).append(candidate)
        candidate_of = [members[player][0] for player in range(len(texts))]
        key = self.rules["answer_key"]
        given = None if key is None or arrivals is not None else answers_of(key, candidates)
        answers = None if key is None else [given[c] if given else None for c in candidate_of]
        budget = CallBudget(self.rules["budget"])
        budget.plan(self.planned_matches(len(texts), answers), floor=2 if self.order == "both" else 1)
        tokens = TokenBudget(self.rules["token_budget"])
        t = Tournament(query, texts, candidate_of, seed, self.judge, self.rules, budget, tokens, deadline, arrivals,
                       answers)  # fmt: skip
        if given is not None:
            t.agreement.update(answer for answer in given if answer is not None)
        ranking, scores = await self._tournament(t) if len(texts) > 1 else ([0], [0.0])
        if t.answers is not None and len(texts) > 1:
            ranking = await best_of_answer(t, ranking, self.rules["within_answer"])
        if t.budget.refused and t.stopped_early is None:  # a top-up or resample went unpaid
            t.stopped_early = "budget"
        if t.stopped_early and not any(m.votes for m in t.matches.values()):
            _raise_nothing_judged(t)
        if arrivals is not None:  # every text has arrived by now (each one played a match)
            candidates = [await arrival for arrival in arrivals]
        matches = tuple(t.matches[key] for key in sorted(t.matches, key=lambda k: (t.matches[k].round, k)))
        return Selection(
            query=query,
            candidates=tuple(candidates),
            method=self.method,
            best_index=candidate_of[ranking[0]],
            ranking=tuple(c for player in ranking for c in members[player]),  # duplicates side by side
            scores=tuple(float(scores[player]) for player in player_of),
            matches=matches,
            usage=usage_of(matches, time.monotonic() - started),
            seed=seed,
            stopped_early=t.stopped_early,
            answers=None if t.answers is None else tuple(t.answers[player] for player in player_of),
        )


def _check_limit(option: str, value: object, unit: str) -> None:
    """A limit on a selection's spending: a positive count of `unit`, or None for no limit."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise InvalidArgumentError(f"{option} must be an integer >= 1 ({unit}) or None, got {value!r}")


def _check_escalation(judge: Judge, budgets: object, votes: int) -> tuple[int, ...]:
    """`thinking_budgets` as a tuple, once it is two or more increasing budgets the judge can force
    and a match has votes left after its first wave to escalate with."""
    if isinstance(budgets, str) or not isinstance(budgets, Sequence) or len(budgets) < 2:
        raise InvalidArgumentError(
            f"thinking_budgets must be a tuple of two or more reasoning budgets, e.g. (1024, 8192), got {budgets!r}"
        )
    for budget in budgets:
        check_positive_int("thinking_budgets", budget)
    if any(later <= earlier for earlier, later in itertools.pairwise(budgets)):
        raise InvalidArgumentError(f"thinking_budgets must be strictly increasing, got {tuple(budgets)!r}")
    if votes < 3:
        raise InvalidArgumentError(
            f"thinking_budgets needs votes >= 3, got votes={votes}: with fewer, a match's first wave is all "
            "of its votes, so none are left to escalate with"
        )
    for budget in budgets:
        judge.check_thinking_budget(budget, "thinking_budgets")
    return tuple(budgets)


def _raise_nothing_judged(t: Tournament) -> NoReturn:
    """A selection cut short before any vote has no best so far: say why instead of guessing.

    A token budget never gets here: it stops a selection only once votes have spent tokens, and
    those votes are in its matches."""
    if t.stopped_early == "deadline":
        raise DeadlineExceededError(
            f"no judge vote arrived within the selection's deadline of {t.rules['deadline_s']} s (judge {t.judge.name})",
            judge=t.judge.name,
        )
    raise BudgetExhaustedError(f"a budget of {t.rules['budget']} judge calls cannot pay for a single match")


def _fold_duplicates(candidates: Sequence[str]) -> tuple[list[str], list[int]]:
    """Distinct texts (the players) in first-seen order, and for each candidate its player."""
    index: dict[str, int] = {}
    player_of = [index.setdefault(text, len(index)) for text in candidates]
    return list(index), player_of


def derive_seed(seed: int, key: int | str) -> int:
    """A seed for one item of a batch (a query index, a dataset row id), derived from `seed`."""
    if isinstance(key, str):
        key = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return int(np.random.SeedSequence([seed, key]).generate_state(1, np.uint64)[0])


def usage_of(matches: Sequence[Match], wall_time_s: float) -> Usage:
    """What a selection's matches spent: requests, retries and hedges as each match counted them,
    votes, tokens and costs from the votes (those served by the cache cost nothing now)."""
    votes = [v for m in matches for v in m.votes]
    paid_votes = paid(votes)
    costs = [v.cost_usd for v in paid_votes if v.cost_usd is not None]
    flips = [order_disagreements(m.votes) for m in matches]
    return Usage(
        requests=sum(m.requests for m in matches),
        votes=len(votes),
        abstentions=sum(v.verdict is None for v in votes),
        retries=sum(m.retries for m in matches),
        resamples=sum(len(v.discarded) for v in paid_votes),
        hedges=sum(m.hedges for m in matches),
        cached_votes=len(votes) - len(paid_votes),
        forced_votes=sum(v.forced for v in votes),
        prompt_tokens=sum(v.prompt_tokens for v in paid_votes),
        completion_tokens=sum(v.completion_tokens for v in paid_votes),
        cost_usd=sum(costs) if costs else None,
        wall_time_s=wall_time_s,
        order_pairs=sum(pairs for pairs, _ in flips),
        order_flips=sum(flipped for _, flipped in flips),
    )
