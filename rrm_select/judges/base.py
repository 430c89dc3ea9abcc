"""What every judge backend shares: requests, samples, retries, top-ups and resampling.

A backend implements one method, `_generate`, which sends a batch of prompts (each asking for
`n` samples) and returns whatever samples came back. `Judge.ajudge` turns that into votes: it
parses every sample with the judge's format, tops up when a server returned fewer samples than
asked (llama.cpp ignores `n`), resamples votes whose verdict could not be parsed up to
`RetryPolicy.resamples` times, and records the rest as abstentions with their raw text.
Each round of that loop is ONE `_generate` call holding every request still short of votes,
so batching backends see the whole batch at once. A round may be hedged (see `Hedge`) and is
charged to the caller's `CallBudget`, one call per prompt.
"""

from __future__ import annotations

import json
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rrm_select.cache import JudgmentCache
from rrm_select.errors import BudgetExhaustedError, InvalidArgumentError, JudgeUnavailableError
from rrm_select.formats import JudgeFormat, Message, RRMFormat
from rrm_select.judges.hedging import Hedge, Hedger
from rrm_select.types import Verdict, Vote


class RetryPolicy(BaseModel):
    """How hard a judge tries before giving up.

    Transient request failures (429, 5xx, timeouts, dropped connections, garbage replies) are
    retried with exponential backoff and full jitter, honouring a server's Retry-After up to
    `max_backoff_s`. Unparseable verdicts are resampled `resamples` times per vote.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=6, ge=1)
    """Attempts per request, the first included."""
    initial_backoff_s: float = Field(default=0.5, ge=0)
    max_backoff_s: float = Field(default=30.0, ge=0)
    resamples: int = Field(default=2, ge=0)
    """Extra samples per vote when its verdict cannot be parsed (cut off, no box)."""

    @model_validator(mode="after")
    def _backoff_order(self) -> RetryPolicy:
        if self.max_backoff_s < self.initial_backoff_s:
            raise ValueError("max_backoff_s must be >= initial_backoff_s")
        return self


@dataclass(frozen=True)
class VoteRequest:
    """Ask for `n` votes on one ordering of a pair: `pair[0]` is shown as Assistant 1."""

    query: str
    first: str
    second: str
    n: int
    pair: tuple[int, int] = (0, 1)
    """Candidate indices of (first, second), copied into the votes."""
    offset: int = 0
    """Index of this request's first vote among all votes on this ordering (a match voting in
    waves asks again for the same ordering; its later votes are new votes, not cached ones)."""


@dataclass(frozen=True)
class Sample:
    """One raw completion from a backend."""

    content: str
    reasoning: str | None
    finish_reason: str | None
    latency_s: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None


@dataclass(frozen=True)
class Prompt:
    """What a backend is asked to generate: `n` samples of one conversation."""

    request: VoteRequest
    messages: list[Message]
    n: int


@dataclass(frozen=True)
class Generation:
    """What a backend returned for one prompt, and what it cost to get it."""

    samples: list[Sample]
    requests: int = 1
    retries: int = 0


@dataclass
class Ballot:
    """The votes for one `VoteRequest`, in order, and the requests they took. It holds fewer
    than `n` votes only when the budget stopped top-ups before a sample arrived."""

    votes: list[Vote]
    requests: int = 0
    retries: int = 0
    hedges: int = 0


class CallBudget:
    """Judge calls a selection may still make: every prompt sent counts (first attempts, top-ups,
    resamples, hedges); transport retries of failed requests are bounded by
    `RetryPolicy.max_attempts` instead, since a failed request gave nothing to pay for.

    Shared by the concurrent matches of one selection; None means unlimited.

    With `plan`, calls are held back for the matches not started yet, so that the first matches
    (a knockout's first round, say) cannot spend what the later ones need for their first request.
    """

    def __init__(self, limit: int | None) -> None:
        self.left = limit
        self.refused = False
        """Whether a call was ever refused (the selection then stopped early)."""
        self._held = 0
        self._unstarted = 0
        self._floor = 1

    def plan(self, matches: int, floor: int) -> None:
        """Hold back `floor` calls (a match's cheapest first wave) for each of `matches` matches,
        when the budget covers them all; otherwise matches are paid in the order they start."""
        self._floor = floor
        if self.left is not None and self.left >= matches * floor:
            self._held, self._unstarted = matches * floor, matches

    def start_match(self) -> int | None:
        """A match begins: its held calls are freed. Returns how many calls its first wave may
        take (None: any number). Beyond its floor it gets a share of the surplus no larger than
        every match still to come could get, so spare calls go to the later (deciding) rounds."""
        if self.left is None:
            return None
        if not self._unstarted:  # nothing held: what is left, if it pays for a first wave
            return self.left if self.left >= self._floor else 0
        self._unstarted -= 1
        self._held -= self._floor
        surplus = self.left - self._held - self._floor
        return self._floor + surplus // (self._unstarted + 1)

    def take(self, calls: int) -> bool:
        """Spend `calls` if all of them fit beside the held calls; otherwise spend nothing and say no."""
        if self.left is None:
            return True
        if calls > self.left - self._held:
            self.refused = True
            return False
        self.left -= calls
        return True


@dataclass
class _Slot:
    attempts: list[Sample] = field(default_factory=list)
    verdict: Verdict | None = None
    cached: Vote | None = None


class Judge(ABC):
    """A pairwise judge. Subclasses implement `_generate`; everything else is shared.

    Args:
        format: renders prompts and parses verdicts (default: the RRM wire format).
        retry: retry and resampling policy.
        hedge: duplicate calls that are much slower than their peers (see `Hedge`); for endpoint
            judges, where one slow server response holds up a whole round.

    Set `cache` to a `JudgmentCache` to reuse votes already paid for (see `rrm_select.cache`).
    """

    def __init__(
        self, *, format: JudgeFormat | None = None, retry: RetryPolicy | None = None, hedge: Hedge | None = None
    ) -> None:
        self.format: JudgeFormat = format if format is not None else RRMFormat()
        self.retry = retry if retry is not None else RetryPolicy()
        self.cache: JudgmentCache | None = None
        self.hedger = Hedger(hedge) if hedge is not None else None

    @property
    @abstractmethod
    def settings(self) -> dict[str, object]:
        """Everything besides the prompt that determines a vote (model, sampling, constraints)."""

    @property
    def fingerprint(self) -> str:
        """A stable identity of this judge's votes: settings and format version (a cache key part)."""
        return json.dumps({**self.settings, "format": self.format.version}, sort_keys=True, default=repr)

    @property
    @abstractmethod
    def name(self) -> str:
        """A short description (model and endpoint) for messages and traces."""

    @abstractmethod
    async def _generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        """Generate `prompt.n` samples for every prompt; returning fewer is allowed."""

    def close(self) -> None:
        """Release what the judge holds (engine processes for in-process backends); idempotent."""

    async def ajudge(self, requests: Sequence[VoteRequest], budget: CallBudget | None = None) -> list[Ballot]:
        """Votes for every request: `request.n` each, abstentions included.

        With a `budget`, each round of calls is charged to it first. If the first round does not
        fit, `BudgetExhaustedError` is raised (nothing was sent); if a later round (top-ups,
        resamples) does not fit, the votes end as they are: unparsed ones as abstentions.
        """
        budget = budget if budget is not None else CallBudget(None)
        slots = [[_Slot() for _ in range(r.n)] for r in requests]
        keys = self._cache_keys(requests)
        if self.cache is not None:
            found = self.cache.get([k for per_request in keys for k in per_request])
            for per_request, per_keys in zip(slots, keys, strict=True):
                for slot, key in zip(per_request, per_keys, strict=True):
                    slot.cached = found.get(key)
        ballots = [Ballot(votes=[]) for _ in requests]
        messages = [self.format.render(r.query, r.first, r.second) for r in requests]
        empty_rounds = 0
        first_round = True
        while True:
            open_slots = [[s for s in per_request if self._open(s)] for per_request in slots]
            wanted = [i for i, o in enumerate(open_slots) if o]
            if not wanted:
                break
            prompts = [Prompt(requests[i], messages[i], len(open_slots[i])) for i in wanted]
            if not budget.take(len(prompts)):
                if first_round:
                    raise BudgetExhaustedError(f"the call budget has no room for {len(prompts)} more judge calls")
                break
            first_round = False
            generations, hedged = await self._round(prompts, budget)
            received = 0
            for i, generation in zip(wanted, generations, strict=True):
                ballots[i].requests += generation.requests + hedged
                ballots[i].retries += generation.retries
                ballots[i].hedges += hedged
                for slot, sample in zip(open_slots[i], generation.samples):
                    slot.attempts.append(sample)
                    slot.verdict = self.format.parse(sample.content, sample.reasoning)
                    received += 1
            empty_rounds = 0 if received else empty_rounds + 1
            if empty_rounds >= self.retry.max_attempts:
                raise JudgeUnavailableError(f"judge {self.name} returned no samples {empty_rounds} times in a row")
        fresh: dict[str, Vote] = {}
        for request, ballot, per_request, per_keys in zip(requests, ballots, slots, keys, strict=True):
            for slot, key in zip(per_request, per_keys, strict=True):
                if slot.cached is not None:
                    vote = slot.cached.model_copy(
                        update={"first": request.pair[0], "second": request.pair[1], "cached": True}
                    )
                elif slot.attempts:
                    vote = fresh[key] = _vote(request, slot)
                else:  # the budget stopped the top-up that would have filled it
                    continue
                ballot.votes.append(vote)
        if self.cache is not None:
            self.cache.put(fresh)
        return ballots

    async def _round(self, prompts: list[Prompt], budget: CallBudget) -> tuple[list[Generation], bool]:
        """One `_generate` call, hedged when a policy is set; whether a duplicate was sent."""
        if self.hedger is None:
            return await self._generate(prompts), False
        return await self.hedger.run(lambda: self._generate(prompts), lambda: budget.take(len(prompts)))

    def _cache_keys(self, requests: Sequence[VoteRequest]) -> list[list[str]]:
        if self.cache is None:
            return [[""] * r.n for r in requests]
        fingerprint = self.fingerprint
        return [
            [JudgmentCache.key(fingerprint, r.query, r.first, r.second, r.offset + i) for i in range(r.n)]
            for r in requests
        ]

    def _open(self, slot: _Slot) -> bool:
        return slot.cached is None and slot.verdict is None and len(slot.attempts) <= self.retry.resamples


def check_endpoint_options(
    max_tokens: object, max_concurrency: object, timeout: float, temperature: float, top_p: float
) -> None:
    """The options every endpoint judge shares, checked the same way."""
    for option, value in (("max_tokens", max_tokens), ("max_concurrency", max_concurrency)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidArgumentError(f"{option} must be an integer >= 1, got {value!r}")
    if timeout <= 0:
        raise InvalidArgumentError(f"timeout must be > 0 seconds, got {timeout!r}")
    if not 0 <= temperature <= 2 or not 0 < top_p <= 1:
        raise InvalidArgumentError(f"need 0 <= temperature <= 2 and 0 < top_p <= 1, got {temperature!r}, {top_p!r}")


def backoff_s(policy: RetryPolicy, attempt: int, retry_after_s: float | None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): the server's Retry-After
    when it sent one, else full jitter under an exponential ceiling (spreading many clients'
    retries apart); never more than `policy.max_backoff_s`."""
    if retry_after_s is not None:
        return min(retry_after_s, policy.max_backoff_s)
    ceiling = min(policy.max_backoff_s, policy.initial_backoff_s * 2 ** (attempt - 1))
    return random.uniform(0, ceiling)


def retry_after_s(value: object) -> float | None:
    """A Retry-After header's seconds; None when absent or an HTTP date (rare for model servers:
    the policy's own backoff applies then)."""
    try:
        return max(0.0, float(value)) if value is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def samples_from(
    choices: Sequence[tuple[str, str | None, str | None]],
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: float | None,
    latency_s: float,
) -> list[Sample]:
    """Samples from one reply's (content, reasoning, finish_reason) choices; the reply's tokens
    and cost are shared out evenly (servers report a request with n samples as one sum)."""
    share = len(choices) or 1
    return [
        Sample(
            content=content,
            reasoning=reasoning,
            finish_reason=finish_reason,
            latency_s=latency_s,
            prompt_tokens=split_evenly(prompt_tokens, share, i),
            completion_tokens=split_evenly(completion_tokens, share, i),
            cost_usd=None if cost_usd is None else cost_usd / share,
        )
        for i, (content, reasoning, finish_reason) in enumerate(choices)
    ]


def split_evenly(total: int, parts: int, i: int) -> int:
    """Part `i` of `total` split over `parts` integers that sum to it (the remainder goes first).

    Servers report the tokens of a request with n samples as one sum; votes get equal shares."""
    return total // parts + (total % parts if i == 0 else 0)


def _vote(request: VoteRequest, slot: _Slot) -> Vote:
    final = slot.attempts[-1]
    costs = [s.cost_usd for s in slot.attempts if s.cost_usd is not None]
    return Vote(
        first=request.pair[0],
        second=request.pair[1],
        verdict=slot.verdict,
        answer=final.content,
        reasoning=final.reasoning,
        finish_reason=final.finish_reason,
        latency_s=final.latency_s,
        prompt_tokens=sum(s.prompt_tokens for s in slot.attempts),
        completion_tokens=sum(s.completion_tokens for s in slot.attempts),
        cost_usd=sum(costs) if costs else None,
        discarded=tuple(s.content for s in slot.attempts[:-1]),
    )
