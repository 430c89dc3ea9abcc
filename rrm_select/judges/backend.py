"""The interface between a `Judge` and whatever produces its samples: one method, `generate`.

A backend gets a batch of `Prompt`s, each asking for `n` samples of one rendered comparison, and
returns one `Generation` per prompt with the samples it got (fewer than `n` is allowed: the judge
tops up). Everything else (parsing verdicts, resampling, caching, hedging, budgets) is the
judge's. The in-process vLLM engine, the scripted judge and the endpoint judges' retrying client
are backends; so is any user's own (see "Add a backend" in the README).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, get_args

from rrm_select.errors import InvalidArgumentError
from rrm_select.formats import Message

Forcing = Literal["server", "client"]
"""How a vote's reasoning is closed at its thinking budget: by the engine (vLLM's
``thinking_token_budget``), or by the client continuing the generation after appending the end
of thinking (see `ThinkingBudget`)."""
FORCINGS: tuple[str, ...] = get_args(Forcing)

VERDICT_ROOM_TOKENS = 256
SERVER_BUDGET_KEY = "thinking_token_budget"
"""vLLM's name for server-side budget forcing: a request field of its chat and completions APIs,
and a `SamplingParams` option."""
"""Tokens allowed after a thinking budget for the answer (the verdict and any words around it),
when `max_tokens` is left to follow the budget."""


@dataclass(frozen=True)
class VoteRequest:
    """Ask for `n` votes on one ordering of a pair: `first` is shown as Assistant 1."""

    query: str
    first: str
    second: str
    n: int
    pair: tuple[int, int] = (0, 1)
    """Candidate indices of (first, second), copied into the votes."""
    offset: int = 0
    """Index of this request's first vote among all votes on this ordering (a match voting in
    waves asks again for the same ordering; its later votes are new votes, not cached ones)."""
    thinking_budget: int | None = None
    """Reasoning tokens per vote for this request, instead of the judge's own `thinking_budget`
    (a selection escalating a close match); None: the judge's."""


@dataclass(frozen=True)
class ThinkingBudget:
    """At most `tokens` of reasoning per sample; then the reasoning is closed and the judge answers.

    With ``forcing="server"`` the backend asks its engine to do it. With ``"client"`` it
    generates up to `tokens`, and a sample still thinking then is continued, as the same
    generation, from its own text followed by `close` (the end of thinking and the start of the
    answer); a sample cut off in its answer is continued without it."""

    tokens: int
    forcing: Forcing
    max_tokens: int
    """The bound on the whole sample, reasoning and answer."""
    close: str


@dataclass(frozen=True)
class Prompt:
    """What a backend is asked to generate: `n` samples of one conversation."""

    request: VoteRequest
    messages: list[Message]
    """The comparison rendered by the judge's format (system and user messages)."""
    n: int
    thinking: ThinkingBudget | None = None
    """The reasoning budget of every sample (None: none; the backend's `max_tokens` applies)."""


@dataclass(frozen=True)
class Sample:
    """One raw completion: the answer text, the reasoning where the backend split it off, why it
    stopped, and what it cost."""

    content: str
    reasoning: str | None
    finish_reason: str | None
    latency_s: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    reasoning_tokens: int | None = None
    """Tokens of reasoning, where the backend knows them (None: it does not)."""
    forced: bool = False
    """The reasoning was closed at the thinking budget (see `ThinkingBudget`)."""


@dataclass(frozen=True)
class Generation:
    """What a backend returned for one prompt, and what it cost to get it."""

    samples: list[Sample]
    requests: int = 1
    """Requests sent for it (more than one after retries)."""
    retries: int = 0


class Backend(ABC):
    """Produces samples for a judge. Implement `generate`; override `name`, `settings` and
    `close` where the defaults do not fit, and `forcing_modes` to take thinking budgets."""

    forcing_modes: ClassVar[frozenset[str]] = frozenset()
    """The `Forcing` modes this backend honours in `Prompt.thinking` (none: no thinking budgets)."""
    max_tokens: int | None = None
    """The explicit bound on a sample's tokens, if the backend has one (None: it follows the
    thinking budget, see `answer_bound`)."""

    @abstractmethod
    async def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        """One `Generation` per prompt, in order, with up to `prompt.n` samples each.

        Raise a `JudgeError` subclass for a failure: `JudgeUnavailableError` when it may pass,
        `JudgeRejectedError` when it will not. The judge does not retry either: a backend that
        can fail transiently retries itself (as the endpoint backend does)."""

    @property
    def name(self) -> str:
        """A short description (model and endpoint) for messages and traces."""
        return type(self).__name__

    @property
    def settings(self) -> dict[str, object]:
        """Everything besides the prompt that determines a sample (model, sampling, constraints):
        the judgment cache keys votes by it, so two backends that would answer differently must
        differ here."""
        return {"backend": type(self).__qualname__}

    def close(self) -> None:
        """Release what the backend holds (engine processes, connections); idempotent."""


def split_evenly(total: int, parts: int, i: int) -> int:
    """Part `i` of `total` split over `parts` integers that sum to it (the remainder goes first).

    Servers report the tokens of a request with n samples as one sum; votes get equal shares."""
    return total // parts + (total % parts if i == 0 else 0)


def check_positive_int(option: str, value: object) -> None:
    """An option that must be an integer >= 1 (token counts, concurrency limits)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidArgumentError(f"{option} must be an integer >= 1, got {value!r}")


def check_sampling(max_tokens: object, temperature: float, top_p: float) -> None:
    """The sampling options every model backend takes, checked alike (`max_tokens` None: it
    follows the thinking budget)."""
    if max_tokens is not None:
        check_positive_int("max_tokens", max_tokens)
    if not 0 <= temperature <= 2 or not 0 < top_p <= 1:
        raise InvalidArgumentError(f"need 0 <= temperature <= 2 and 0 < top_p <= 1, got {temperature!r}, {top_p!r}")


def check_forcing(forcing: object) -> Forcing:
    if forcing not in FORCINGS:
        raise InvalidArgumentError(f"forcing must be one of {list(FORCINGS)}, got {forcing!r}")
    return forcing  # type: ignore[return-value]


def answer_bound(max_tokens: int | None, budget: int | None, option: str = "thinking_budget") -> int:
    """The `max_tokens` of a sample under a thinking budget: an explicit `max_tokens` must leave
    room for an answer after the budget; without one it is the budget plus `VERDICT_ROOM_TOKENS`
    (8192, the RRM paper's, without a budget)."""
    if budget is None:
        return max_tokens if max_tokens is not None else 8192
    if max_tokens is None:
        return budget + VERDICT_ROOM_TOKENS
    if max_tokens <= budget:
        raise InvalidArgumentError(
            f"max_tokens ({max_tokens}) must be above {option} ({budget}): it bounds the reasoning and the "
            "answer together (leave max_tokens unset to follow the budget)"
        )
    return max_tokens
