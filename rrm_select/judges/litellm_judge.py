"""A judge behind any OpenAI-compatible endpoint, reached through litellm.

litellm is imported on first use, not with rrm_select (it takes seconds to import). The k votes
of one ordering go out as one request with `n=k`; requests run concurrently up to
`max_concurrency`, a limit shared by every selection using this judge object. Given several
servers (a list of API bases, or a litellm `Router`), the judge spreads requests over them with a
limit per server and leaves failing ones out (see `rrm_select.judges.fleet`).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from rrm_select.errors import (
    InvalidArgumentError,
    MissingDependencyError,
)
from rrm_select.formats import JudgeFormat
from rrm_select.judges.base import Prompt, RetryPolicy, Sample, retry_after_s, samples_from
from rrm_select.judges.endpoint import EndpointJudge
from rrm_select.judges.fleet import Fleet
from rrm_select.judges.hedging import Hedge


def import_litellm() -> Any:
    """litellm, imported on first use (shared by every part of rrm_select that calls it)."""
    # Without this, importing litellm tries to download a price list, which stalls offline
    # machines for seconds. A user who wants the live list sets the variable to "False".
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError as exc:  # pragma: no cover - litellm is a core dependency
        raise MissingDependencyError("LiteLLMJudge needs litellm: pip install rrm-select") from exc
    return litellm


class LiteLLMJudge(EndpointJudge):
    """An RRM served behind an OpenAI-compatible API (vLLM, llama.cpp, hosted providers).

    Args:
        model: a litellm model name, e.g. ``"hosted_vllm/Reward-Reasoning/RRM-7B"``; with
            `router`, the router's model name for the judge's deployments.
        api_base: the endpoint, e.g. ``"http://127.0.0.1:8000/v1"``, or a list of endpoints
            serving the same model (a fleet: requests go to the least loaded healthy one).
        api_key: sent to the server(s), never recorded in traces or errors.
        router: a ``litellm.Router`` whose deployments of `model` serve the judge (keys, weights
            and cooldown policy are the router's; ``max_parallel_requests`` in a deployment's
            ``litellm_params`` sets its limit). Its retries are turned off per call: retries
            are the judge's own.
        temperature, top_p, max_tokens: decoding settings (the RRM paper's by default).
        timeout: seconds allowed per request before it counts as a transient failure.
        max_concurrency: requests in flight at once, across every selection using this judge;
            with several servers, per server.
        verdict_regex: ask a vLLM server to force every sample to match this regex (its
            structured outputs), e.g. ``RRMFormat().verdict_regex(200)`` for a weak judge.
            With ``--reasoning-parser``, start the server with
            ``--structured-outputs-config '{"enable_in_reasoning": true}'``.
        retry: retry and resampling policy.
        hedge: duplicate a request much slower than its peers and take the first answer (see
            `Hedge`); off by default.
        format: prompt and verdict format.
        **litellm_kwargs: passed to ``litellm.acompletion`` unchanged (e.g. ``extra_body``).
    """

    backend = "litellm"

    def __init__(
        self,
        model: str,
        *,
        api_base: str | Sequence[str] | None = None,
        api_key: str | None = None,
        router: Any = None,
        temperature: float = 0.6,
        top_p: float = 1.0,
        max_tokens: int = 8192,
        timeout: float = 600.0,
        max_concurrency: int = 64,
        verdict_regex: str | None = None,
        retry: RetryPolicy | None = None,
        hedge: Hedge | None = None,
        format: JudgeFormat | None = None,
        **litellm_kwargs: Any,
    ) -> None:
        if not model:
            raise InvalidArgumentError("model must be a non-empty litellm model name")
        reserved = {"model", "messages", "n", "api_base", "api_key", "stream"} & litellm_kwargs.keys()
        if reserved:
            raise InvalidArgumentError(f"these are set by the judge and cannot be passed through: {sorted(reserved)}")
        if router is not None and api_base is not None:
            raise InvalidArgumentError("give either api_base or router, not both (the router knows its servers)")
        if not isinstance(api_base, str | None) and not api_base:
            raise InvalidArgumentError("api_base is an empty list: give at least one endpoint")
        super().__init__(model, temperature=temperature, top_p=top_p, max_tokens=max_tokens, timeout=timeout,
                         max_concurrency=max_concurrency, verdict_regex=verdict_regex, retry=retry, hedge=hedge,
                         format=format)  # fmt: skip
        self.fleet: Fleet | None = None
        if router is not None:
            self.fleet = Fleet(router, model, max_concurrency)
        elif api_base is not None and not isinstance(api_base, str):
            self.fleet = Fleet.of_servers(model, list(api_base), api_key, max_concurrency)
        self.api_base = api_base if isinstance(api_base, str) or api_base is None else list(api_base)
        self._api_key = api_key
        if verdict_regex is not None:  # merged into any extra_body the caller passes
            extra_body = {**litellm_kwargs.get("extra_body", {}), "structured_outputs": {"regex": verdict_regex}}
            litellm_kwargs = {**litellm_kwargs, "extra_body": extra_body}
        self.litellm_kwargs = litellm_kwargs

    def __repr__(self) -> str:
        return f"LiteLLMJudge(model={self.model!r}, api_base={self.api_base!r})"

    @property
    def name(self) -> str:
        if self.fleet is not None:
            return f"{self.model} at {self.fleet.describe()}"
        return f"{self.model} at {self.api_base or 'the provider default endpoint'}"

    def _model_setting(self) -> object:
        # Votes depend on the model, not on which server produced them: a fleet of one model
        # shares its judgments (and cache entries) with a single server of that model.
        models = self.fleet.models if self.fleet is not None else [self.model]
        return models[0] if len(models) == 1 else models

    def _extra_settings(self) -> dict[str, object]:
        return {"litellm_kwargs": self.litellm_kwargs}

    async def _attempt(self, prompt: Prompt) -> list[Sample]:
        async with self._lane(import_litellm()) as acompletion:
            started = time.monotonic()
            response = await acompletion(
                messages=prompt.messages,
                n=prompt.n,
                temperature=self.temperature,
                top_p=self.top_p,
                max_tokens=self.max_tokens,
                timeout=self.timeout,
                num_retries=0,  # retries are ours, with the judge's policy
                **self.litellm_kwargs,
            )
            return _samples(response, time.monotonic() - started)

    def _secrets(self) -> list[str]:
        return [s for s in (self._api_key, *(self.fleet.secrets if self.fleet else [])) if s]

    @asynccontextmanager
    async def _lane(self, litellm: Any) -> AsyncIterator[Callable[..., Any]]:
        """A concurrency slot, and ``acompletion`` bound to the server that holds it."""
        if self.fleet is not None:
            async with self.fleet.lane() as acompletion:
                yield acompletion
            return
        async with self.limit:
            yield lambda **params: litellm.acompletion(
                model=self.model, api_base=self.api_base, api_key=self._api_key, **params
            )

    def _is_transient(self, exc: BaseException) -> bool:
        litellm = import_litellm()
        permanent = (
            litellm.BadRequestError,  # includes ContextWindowExceededError
            litellm.AuthenticationError,
            litellm.PermissionDeniedError,
            litellm.NotFoundError,
            litellm.UnprocessableEntityError,
        )
        return isinstance(exc, _api_error()) and not isinstance(exc, permanent)

    def _retry_after_s(self, exc: BaseException | None) -> float | None:
        headers = getattr(exc, "litellm_response_headers", None) or {}
        return retry_after_s({str(k).lower(): v for k, v in dict(headers).items()}.get("retry-after"))

    def _failure_text(self, exc: BaseException) -> str | None:
        return _describe(exc) if isinstance(exc, _api_error()) else None


def _api_error() -> type[Exception]:
    # Every litellm exception derives from the openai SDK's APIError (openai ships with litellm).
    import openai

    return openai.APIError


def _describe(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    # A Router appends a paragraph about fallbacks to every error; it says nothing about the judge.
    text = str(exc).split("\n\nLiteLLM: model group", 1)[0].replace("\n", " ").strip()
    return f"{type(exc).__name__} (HTTP {status}): {text}" if status else f"{type(exc).__name__}: {text}"


def _samples(response: Any, latency: float) -> list[Sample]:
    choices = []
    for choice in response.choices:
        message = choice.message
        # vLLM's reasoning parser sends `reasoning_content` (older) or `reasoning` (newer);
        # either is absent, not None, when the server has no parser. An empty reasoning is
        # still a split-off reasoning (the content is then the whole answer).
        reasoning = getattr(message, "reasoning_content", None)
        if reasoning is None:
            reasoning = getattr(message, "reasoning", None)
        choices.append((message.content or "", reasoning, choice.finish_reason))
    usage = getattr(response, "usage", None)
    cost = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
    return samples_from(
        choices,
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        cost_usd=None if cost is None else float(cost),
        latency_s=latency,
    )
