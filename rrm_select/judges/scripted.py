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
from rrm_select.formats import JudgeFormat
from rrm_select.judges.backend import Backend, Generation, Prompt, Sample
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

    def __init__(self, prefer: Preference, *, accuracy: float = 1.0, latency_s: float = 0.0, seed: int = 0) -> None:
        if not 0.0 <= accuracy <= 1.0:
            raise InvalidArgumentError(f"accuracy must be in [0, 1], got {accuracy!r}")
        if latency_s < 0:
            raise InvalidArgumentError(f"latency_s must be >= 0, got {latency_s!r}")
        self.prefer = prefer
        self.accuracy = accuracy
        self.latency_s = latency_s
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
        return {
            "backend": "scripted",
            "prefer": getattr(self.prefer, "__qualname__", repr(self.prefer)),
            "accuracy": self.accuracy,
        }

    async def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        self.calls += len(prompts)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        return [Generation([self.sample(p) for _ in range(p.n)]) for p in prompts]

    def sample(self, prompt: Prompt) -> Sample:
        """One RRM-shaped output for `prompt`, following `prefer` with probability `accuracy`."""
        request = prompt.request
        verdict = self.prefer(request.query, request.first, request.second)
        if verdict is not None and self._rng.random() >= self.accuracy:
            verdict = 2 if verdict == 1 else 1
        answer = "I cannot decide." if verdict is None else f"\\boxed{{Assistant {verdict}}}"
        content = f"Scripted comparison.\n</think>\n\n{answer}"
        return Sample(
            content=content,
            reasoning=None,
            finish_reason="stop",
            latency_s=self.latency_s,
            prompt_tokens=sum(len(m["content"].split()) for m in prompt.messages),
            completion_tokens=len(content.split()),
        )


class ScriptedJudge(Judge):
    """A judge that answers from a Python function instead of a model.

    Args:
        prefer: decides each comparison; see `Preference`.
        accuracy: probability that a sample follows `prefer`; otherwise it picks the other side.
            Below 1 the judge is noisy, drawing from its own generator seeded by `seed`.
        latency_s: simulated time per request (an `asyncio.sleep`).
        seed: seed of the noise generator.
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
        backend: ScriptedBackend | None = None,
        format: JudgeFormat | None = None,
        retry: RetryPolicy | None = None,
        hedge: Hedge | None = None,
        cache: JudgmentCache | None = None,
    ) -> None:
        if (prefer is None) == (backend is None):
            raise InvalidArgumentError("give exactly one of prefer= (a preference function) or backend=")
        self.scripted = backend or ScriptedBackend(prefer, accuracy=accuracy, latency_s=latency_s, seed=seed)  # type: ignore[arg-type]
        super().__init__(self.scripted, format=format, retry=retry, hedge=hedge, cache=cache)

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
