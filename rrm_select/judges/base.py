"""The judge: votes on ordered pairs, from a backend's samples.

`Judge.ajudge` turns `VoteRequest`s into `Ballot`s. Around the backend call it adds, each in its
own step: the judgment cache (votes already paid for are not asked again), the caller's call
allowance (a selection's budget), hedging of a straggling call, top-ups when a server returned
fewer samples than asked (llama.cpp ignores `n`), and resampling of votes whose verdict could
not be parsed, up to `RetryPolicy.resamples` times; what is still unparsed is an abstention
with its raw text. Each round is ONE backend call holding every request still short of votes,
so batching backends see the whole batch at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rrm_select.cache import JudgmentCache
from rrm_select.errors import BudgetExhaustedError, InvalidArgumentError, JudgeUnavailableError
from rrm_select.formats import FORCED_CLOSE, JudgeFormat, RRMFormat
from rrm_select.judges.backend import (
    Backend,
    Forcing,
    Generation,
    Prompt,
    Sample,
    ThinkingBudget,
    VoteRequest,
    answer_bound,
    check_forcing,
    check_positive_int,
)
from rrm_select.judges.hedging import Hedge, Hedger
from rrm_select.types import Verdict, Vote

CallAllowance = Callable[[int], bool]
"""Asked before each round of backend calls with how many it holds (one per prompt); False stops
the round (a selection's budget, say). Hedged duplicates ask too."""


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


DEFAULT_RESAMPLES: int = RetryPolicy.model_fields["resamples"].default


@dataclass
class Ballot:
    """The votes for one `VoteRequest`, in order, and the requests they took. It holds fewer
    than `n` votes only when the allowance stopped top-ups before a sample arrived."""

    votes: list[Vote]
    requests: int = 0
    retries: int = 0
    hedges: int = 0


@dataclass
class _Slot:
    """One vote being collected: a cached vote, or the samples drawn for it so far."""

    cached: Vote | None
    attempts: list[Sample] = field(default_factory=list)
    verdict: Verdict | None = None


class Judge:
    """A pairwise judge: a `Backend` that produces samples, and a format that reads them.

    Args:
        backend: what generates the samples (see `rrm_select.Backend`).
        format: renders prompts and parses verdicts (default: the RRM wire format).
        retry: retry and resampling policy.
        hedge: duplicate calls that are much slower than their peers (see `Hedge`); for endpoint
            judges, where one slow server response holds up a whole round.
        cache: a `JudgmentCache` reusing votes already paid for; also assignable later
            (``judge.cache = ...``).
        thinking_budget: tokens of reasoning per vote. A vote whose reasoning reaches it is
            closed there and answers from the reasoning it has (budget forcing), instead of being
            cut off at `max_tokens` and lost. None (default): no budget.
        forcing: how the reasoning is closed: ``"server"`` (default; the engine does it, e.g.
            vLLM's ``thinking_token_budget``, which needs a server started with
            ``--reasoning-parser``) or ``"client"`` (the judge continues the generation itself
            after appending ``</think>``). Which ones a judge can do is its backend's
            `forcing_modes`.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        format: JudgeFormat | None = None,
        retry: RetryPolicy | None = None,
        hedge: Hedge | None = None,
        cache: JudgmentCache | None = None,
        thinking_budget: int | None = None,
        forcing: Forcing = "server",
    ) -> None:
        if not isinstance(backend, Backend):
            raise InvalidArgumentError(f"backend must be a rrm_select Backend, got {type(backend).__name__}")
        self.backend = backend
        self.format: JudgeFormat = format if format is not None else RRMFormat()
        self.retry = retry if retry is not None else RetryPolicy()
        self.hedger = Hedger(hedge) if hedge is not None else None
        self.cache = cache
        self.forcing: Forcing = check_forcing(forcing)
        if thinking_budget is not None:
            self.check_thinking_budget(thinking_budget)
        self.thinking_budget = thinking_budget

    def check_thinking_budget(self, budget: object, option: str = "thinking_budget") -> None:
        """Raise `InvalidArgumentError`, naming `option`, unless this judge can hold its votes to
        `budget` reasoning tokens: a positive integer, a forcing mode its backend has, and room
        for an answer under an explicit `max_tokens`."""
        check_positive_int(option, budget)
        if self.forcing not in self.backend.forcing_modes:
            can = sorted(self.backend.forcing_modes)
            hint = f"use forcing={can[0]!r}" if can else "this backend takes no thinking budget"
            raise InvalidArgumentError(f"judge {self.name} cannot force a verdict with forcing={self.forcing!r} "
                                       f"({option}={budget}): {hint}")  # fmt: skip
        answer_bound(self.backend.max_tokens, budget, option)  # type: ignore[arg-type]

    def thinking_for(self, request: VoteRequest) -> ThinkingBudget | None:
        """The thinking budget of `request`'s votes: its own (escalation) or the judge's."""
        tokens = request.thinking_budget if request.thinking_budget is not None else self.thinking_budget
        if tokens is None:
            return None
        return ThinkingBudget(tokens, self.forcing, answer_bound(self.backend.max_tokens, tokens), FORCED_CLOSE)

    @property
    def name(self) -> str:
        """A short description (model and endpoint) for messages and traces."""
        return self.backend.name

    @property
    def settings(self) -> dict[str, object]:
        """Everything besides the prompt that determines a vote (the backend's settings)."""
        return self.backend.settings

    @property
    def fingerprint(self) -> str:
        """A stable identity of this judge's votes: settings, format version and, when it is not
        the default, the resampling policy (a vote resampled until it parsed is not the first
        sample a calibration scores); a cache key part."""
        identity: dict[str, object] = {**self.settings, "format": self.format.version}
        if self.retry.resamples != DEFAULT_RESAMPLES:  # absent at the default: older keys stay valid
            identity["resamples"] = self.retry.resamples
        return json.dumps(identity, sort_keys=True, default=repr)

    def close(self) -> None:
        """Release what the backend holds (engine processes, connections); idempotent."""
        self.backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def ajudge(self, requests: Sequence[VoteRequest], allow: CallAllowance | None = None) -> list[Ballot]:
        """Votes for every request: `request.n` each, abstentions included.

        With `allow`, each round of calls must be allowed first. If the first round is not,
        `BudgetExhaustedError` is raised (nothing was sent); if a later round (top-ups,
        resamples) is not, the votes end as they are: unparsed ones as abstentions.
        """
        keys = self._cache_keys(requests)
        found = self.cache.get([k for per_request in keys for k in per_request]) if self.cache is not None else {}
        slots = [[_Slot(cached=found.get(key)) for key in per_request] for per_request in keys]
        ballots = [Ballot(votes=[]) for _ in requests]
        await self._sample(requests, slots, ballots, allow or _unlimited)
        fresh: dict[str, Vote] = {}
        for request, ballot, per_request, per_keys in zip(requests, ballots, slots, keys, strict=True):
            for slot, key in zip(per_request, per_keys, strict=True):
                if slot.cached is not None:
                    vote = slot.cached.model_copy(
                        update={"first": request.pair[0], "second": request.pair[1], "cached": True}
                    )
                elif slot.attempts:
                    vote = fresh[key] = _vote(request, slot, self.thinking_for(request))
                else:  # the allowance stopped the top-up that would have filled it
                    continue
                ballot.votes.append(vote)
        if self.cache is not None:
            self.cache.put(fresh)
        return ballots

    async def _sample(
        self, requests: Sequence[VoteRequest], slots: list[list[_Slot]], ballots: list[Ballot], allow: CallAllowance
    ) -> None:
        """Draw samples for every open slot, round after round, until none is open."""
        messages = [self.format.render(r.query, r.first, r.second) for r in requests]
        thinking = [self.thinking_for(r) for r in requests]
        empty_rounds = 0
        first_round = True
        while True:
            open_slots = [[s for s in per_request if self._open(s)] for per_request in slots]
            wanted = [i for i, o in enumerate(open_slots) if o]
            if not wanted:
                return
            prompts = [Prompt(requests[i], messages[i], len(open_slots[i]), thinking[i]) for i in wanted]
            if not allow(len(prompts)):
                if first_round:
                    raise BudgetExhaustedError(f"the call budget has no room for {len(prompts)} more judge calls")
                return
            first_round = False
            generations, hedged = await self._call(prompts, allow)
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
                raise JudgeUnavailableError(
                    f"judge {self.name} returned no samples {empty_rounds} times in a row",
                    judge=self.name,
                    attempts=empty_rounds,
                )

    async def _call(self, prompts: list[Prompt], allow: CallAllowance) -> tuple[list[Generation], int]:
        """One backend call, hedged when a policy is set; and how many duplicates were sent."""
        if self.hedger is None:
            return await self.backend.generate(prompts), 0
        generations, hedged = await self.hedger.run(
            lambda: self.backend.generate(prompts), lambda: allow(len(prompts))
        )
        return generations, int(hedged)

    def _cache_keys(self, requests: Sequence[VoteRequest]) -> list[list[str]]:
        if self.cache is None:
            return [[""] * r.n for r in requests]
        fingerprint = self.fingerprint
        keys = []
        for r in requests:
            thinking = self.thinking_for(r)
            limits = None if thinking is None else [thinking.tokens, thinking.forcing, thinking.max_tokens]
            keys.append([JudgmentCache.key(fingerprint, r.query, r.first, r.second, r.offset + i, limits)
                         for i in range(r.n)])  # fmt: skip
        return keys

    def _open(self, slot: _Slot) -> bool:
        return slot.cached is None and slot.verdict is None and len(slot.attempts) <= self.retry.resamples


def _unlimited(calls: int) -> bool:
    return True


def _vote(request: VoteRequest, slot: _Slot, thinking: ThinkingBudget | None) -> Vote:
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
        thinking_budget=None if thinking is None else thinking.tokens,
        forced=final.forced,
        reasoning_tokens=final.reasoning_tokens,
    )
