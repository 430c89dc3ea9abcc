"""A deterministic judge that needs no model: for examples, tests and simulations.

It writes outputs in the RRM shape (`reasoning</think>` then `\\boxed{Assistant N}`) and runs
them through the judge's real format parser, so everything after the model is exercised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Self

import numpy as np

from rrm_select.cache import JudgmentCache
from rrm_select.errors import InvalidArgumentError
from rrm_select.formats import FORCED_CLOSE, THINK_END, JudgeFormat
from rrm_select.judges.backend import FORCINGS, Backend, Forcing, Generation, Prompt, Sample, check_positive_int
from rrm_select.judges.base import Judge, RetryPolicy
from rrm_select.judges.hedging import Hedge
from rrm_select.types import Verdict

Preference = Callable[[str, str, str], Verdict | None]
"""(query, first, second) -> 1 if `first` is better, 2 if `second` is, None to give no verdict."""


def by_higher_score(score: Callable[[str], float]) -> Preference:
    """A preference for the candidate with the higher `score(text)`; equal scores abstain."""

    def prefer(query: str, first: str, second: str) -> Verdict | None:
        a, b = score(first), score(second)
        return None if a == b else (1 if a > b else 2)

    prefer.__qualname__ = f"by_higher_score({getattr(score, '__qualname__', repr(score))})"
    return prefer


class ScriptedBackend(Backend):
    """Samples from a Python function instead of a model (see `ScriptedJudge` for the arguments)."""

    def __init__(
        self,
        prefer: Preference,
        *,
        accuracy: float = 1.0,
        latency_s: float = 0.0,
        seed: int = 0,
        reasoning_tokens: int = 2,
        max_tokens: int | None = None,
        forcing_modes: Sequence[Forcing] = FORCINGS,  # type: ignore[assignment]
    ) -> None:
        if not 0.0 <= accuracy <= 1.0:
            raise InvalidArgumentError(f"accuracy must be in [0, 1], got {accuracy!r}")
        if latency_s < 0:
            raise InvalidArgumentError(f"latency_s must be >= 0, got {latency_s!r}")
        check_positive_int("reasoning_tokens", reasoning_tokens)
        if max_tokens is not None:
            check_positive_int("max_tokens", max_tokens)
        if not set(forcing_modes) <= set(FORCINGS):
            raise InvalidArgumentError(f"forcing_modes must be among {list(FORCINGS)}, got {list(forcing_modes)}")
        self.prefer = prefer
        self.accuracy = accuracy
        self.latency_s = latency_s
        self.reasoning_tokens = reasoning_tokens
        self.max_tokens = max_tokens
        self.forcing_modes = frozenset(forcing_modes)  # type: ignore[misc]
        self._rng = np.random.default_rng(seed)
        self.calls = 0
        """Prompts generated so far (each one is one simulated request)."""

    @classmethod
    def by_score(cls, score: Callable[[str], float], **options: Any) -> Self:
        """A backend that prefers the candidate with the higher `score(text)` (see `by_higher_score`)."""
        return cls(by_higher_score(score), **options)

    @property
    def name(self) -> str:
        return f"ScriptedJudge(accuracy={self.accuracy})"

    @property
    def settings(self) -> dict[str, object]:
        settings: dict[str, object] = {
            "backend": "scripted",
            "prefer": getattr(self.prefer, "__qualname__", repr(self.prefer)),
            "accuracy": self.accuracy,
        }
        if (self.reasoning_tokens, self.max_tokens) != (2, None):  # the outputs differ from the default's
            settings.update(reasoning_tokens=self.reasoning_tokens, max_tokens=self.max_tokens)
        return settings

    async def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        self.calls += len(prompts)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        generations = []
        for prompt in prompts:
            samples = [self.sample(p) for p in [prompt] * prompt.n]
            # Forcing on the client costs one more request per forced sample (its continuation).
            client = prompt.thinking is not None and prompt.thinking.forcing == "client"
            generations.append(Generation(samples, requests=1 + (sum(s.forced for s in samples) if client else 0)))
        return generations

    def sample(self, prompt: Prompt) -> Sample:
        """One RRM-shaped output for `prompt`, following `prefer` with probability `accuracy`.

        Its reasoning is `reasoning_tokens` words (a word is a token here). Under a thinking
        budget shorter than that, the reasoning is cut there and closed (forced); without one,
        an output longer than `max_tokens` is cut off before its verdict, as a server would."""
        request = prompt.request
        verdict = self.prefer(request.query, request.first, request.second)
        if verdict is not None and self._rng.random() >= self.accuracy:
            verdict = 2 if verdict == 1 else 1
        answer = "I cannot decide." if verdict is None else f"\\boxed{{Assistant {verdict}}}"
        words = ["Scripted", "comparison."] + ["step"] * (self.reasoning_tokens - 2)
        thinking = prompt.thinking
        forced = thinking is not None and thinking.tokens < len(words)
        if forced:
            content = " ".join(words[: thinking.tokens]) + FORCED_CLOSE + answer  # type: ignore[union-attr]
        else:
            content = " ".join(words) + f"\n{THINK_END}\n\n{answer}"
        limit = thinking.max_tokens if thinking is not None else self.max_tokens
        cut = limit is not None and len(content.split()) > limit
        if cut:
            content = " ".join(content.split()[:limit])
        return Sample(
            content=content,
            reasoning=None,
            finish_reason="length" if cut else "stop",
            latency_s=self.latency_s,
            prompt_tokens=sum(len(m["content"].split()) for m in prompt.messages),
            completion_tokens=len(content.split()),
            reasoning_tokens=thinking.tokens if forced else len(words),  # type: ignore[union-attr]
            forced=forced,
        )


class ScriptedJudge(Judge):
    """A judge that answers from a Python function instead of a model.

    Args:
        prefer: decides each comparison; see `Preference`.
        accuracy: probability that a sample follows `prefer`; otherwise it picks the other side.
            Below 1 the judge is noisy, drawing from its own generator seeded by `seed`.
        latency_s: simulated time per request (an `asyncio.sleep`).
        seed: seed of the noise generator.
        reasoning_tokens: words of reasoning each output has before its verdict (a word stands
            for a token): a thinking budget below it forces the verdict.
        max_tokens: cut outputs longer than this (in words) before their verdict, as a server
            does at its token limit; None: never.
        forcing_modes: the forcing modes it simulates (both by default; none, to simulate a
            judge that cannot take a thinking budget).
        thinking_budget, forcing: as for every `Judge`.
        backend: a `ScriptedBackend` (or a subclass, to inject behaviour in tests) to use
            instead of building one from the arguments above.
        format, retry, hedge, cache: as for every `Judge`.
    """

    def __init__(
        self,
        prefer: Preference | None = None,
        *,
        accuracy: float = 1.0,
        latency_s: float = 0.0,
        seed: int = 0,
        reasoning_tokens: int = 2,
        max_tokens: int | None = None,
        forcing_modes: Sequence[Forcing] = FORCINGS,  # type: ignore[assignment]
        backend: ScriptedBackend | None = None,
        format: JudgeFormat | None = None,
        retry: RetryPolicy | None = None,
        hedge: Hedge | None = None,
        cache: JudgmentCache | None = None,
        thinking_budget: int | None = None,
        forcing: Forcing = "server",
    ) -> None:
        if (prefer is None) == (backend is None):
            raise InvalidArgumentError("give exactly one of prefer= (a preference function) or backend=")
        self.scripted = backend or ScriptedBackend(
            prefer,  # type: ignore[arg-type]
            accuracy=accuracy,
            latency_s=latency_s,
            seed=seed,
            reasoning_tokens=reasoning_tokens,
            max_tokens=max_tokens,
            forcing_modes=forcing_modes,
        )
        super().__init__(self.scripted, format=format, retry=retry, hedge=hedge, cache=cache,
                         thinking_budget=thinking_budget, forcing=forcing)  # fmt: skip

    @classmethod
    def by_score(cls, score: Callable[[str], float], **options: Any) -> ScriptedJudge:
        """A judge that prefers the candidate with the higher `score(text)`; equal scores abstain."""
        return cls(by_higher_score(score), **options)

    @property
    def calls(self) -> int:
        """Prompts generated so far (each one is one simulated request)."""
        return self.scripted.calls

    @property
    def accuracy(self) -> float:
        return self.scripted.accuracy
