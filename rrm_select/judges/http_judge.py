"""A judge behind an OpenAI-compatible server (vLLM, SGLang, llama.cpp), spoken to directly.

`LiteLLMJudge` reaches any provider, but litellm spends about 6.5 ms of client CPU on every
request; a selection that sends thousands of requests at once (a round robin at large N, a
dataset filter at high concurrency) then waits on the client, not the judge. This judge posts the
chat-completions body itself with aiohttp, for about 0.75 ms a request (`benchmarks/http_client.py`).

Each request opens its own connection: no session outlives a request, so the judge works from
any event loop and leaves nothing to close. That costs a TCP connect per request, which is
nothing next to a judge call of seconds (and a TLS handshake for an https endpoint).
Retries, errors and secrets behave as in `LiteLLMJudge`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from rrm_select.errors import InvalidArgumentError
from rrm_select.formats import JudgeFormat
from rrm_select.judges.base import Prompt, RetryPolicy, Sample, retry_after_s, samples_from
from rrm_select.judges.endpoint import EndpointJudge
from rrm_select.judges.hedging import Hedge

_TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
"""Besides 5xx: statuses that say "not now" rather than "never"."""
_ERROR_TEXT_CHARS = 500


class _Transient(Exception):
    """A failed attempt worth retrying: no answer, a 429 or 5xx, or a reply that is not JSON."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class _Refused(Exception):
    """The server will never serve this request (400, 401, 403, 404, 422...)."""


class HTTPJudge(EndpointJudge):
    """An RRM behind an OpenAI-compatible ``/chat/completions`` endpoint, without litellm.

    Args:
        model: the model name the server serves, e.g. ``"Reward-Reasoning/RRM-7B"`` (no
            litellm provider prefix).
        api_base: the endpoint, e.g. ``"http://127.0.0.1:8000/v1"``.
        api_key: sent as a bearer token, never recorded in traces or errors.
        temperature, top_p, max_tokens, timeout, max_concurrency, verdict_regex, retry, hedge,
            format: as for `LiteLLMJudge`.
        extra_body: more fields for the request body (e.g. ``{"top_k": 20}`` for vLLM).
    """

    backend = "http"

    def __init__(
        self,
        model: str,
        *,
        api_base: str,
        api_key: str | None = None,
        temperature: float = 0.6,
        top_p: float = 1.0,
        max_tokens: int = 8192,
        timeout: float = 600.0,
        max_concurrency: int = 64,
        verdict_regex: str | None = None,
        extra_body: dict[str, Any] | None = None,
        retry: RetryPolicy | None = None,
        hedge: Hedge | None = None,
        format: JudgeFormat | None = None,
    ) -> None:
        if not model or not isinstance(model, str):
            raise InvalidArgumentError("model must be the non-empty name the server serves")
        if not isinstance(api_base, str) or not api_base.startswith(("http://", "https://")):
            raise InvalidArgumentError(
                f"api_base must be an http(s) URL such as http://127.0.0.1:8000/v1, got {api_base!r}"
            )
        body = dict(extra_body or {})
        reserved = {"model", "messages", "n", "stream"} & body.keys()
        if reserved:
            raise InvalidArgumentError(f"these are set by the judge and cannot be in extra_body: {sorted(reserved)}")
        super().__init__(model, temperature=temperature, top_p=top_p, max_tokens=max_tokens, timeout=timeout,
                         max_concurrency=max_concurrency, verdict_regex=verdict_regex, retry=retry, hedge=hedge,
                         format=format)  # fmt: skip
        self.api_base = api_base.rstrip("/")
        self._api_key = api_key
        if verdict_regex is not None:
            body["structured_outputs"] = {**body.get("structured_outputs", {}), "regex": verdict_regex}
        self.extra_body = body

    def __repr__(self) -> str:
        return f"HTTPJudge(model={self.model!r}, api_base={self.api_base!r})"

    @property
    def name(self) -> str:
        return f"{self.model} at {self.api_base}"

    def _extra_settings(self) -> dict[str, object]:
        return {"extra_body": self.extra_body}

    def _secrets(self) -> list[str]:
        return [self._api_key] if self._api_key else []

    async def _attempt(self, prompt: Prompt) -> list[Sample]:
        body = {
            "model": self.model,
            "messages": prompt.messages,
            "n": prompt.n,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            **self.extra_body,
        }
        async with self.limit:
            started = time.monotonic()
            reply = await self._post(body)
            return _samples(reply, time.monotonic() - started)

    def _is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, _Transient)

    def _retry_after_s(self, exc: BaseException | None) -> float | None:
        return exc.retry_after_s if isinstance(exc, _Transient) else None

    def _failure_text(self, exc: BaseException) -> str | None:
        return str(exc) if isinstance(exc, _Transient | _Refused) else None

    async def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        import aiohttp  # here, not at the top: it adds a fifth of a second to importing rrm_select

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session,
                session.post(f"{self.api_base}/chat/completions", json=body, headers=headers) as response,
            ):
                status, text = response.status, await response.text(errors="replace")
                retry_after = retry_after_s(response.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as exc:  # refused, dropped, too slow
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        if status != 200:
            message = f"HTTP {status}: {text[:_ERROR_TEXT_CHARS]}"
            if status >= 500 or status in _TRANSIENT_STATUS:
                raise _Transient(message, retry_after)
            raise _Refused(message)
        try:
            reply = json.loads(text)
            choices = reply.get("choices") if isinstance(reply, dict) else None
            if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
                raise ValueError("no choices")
        except ValueError:  # cut off mid-body, or not a chat completion at all
            raise _Transient(f"a reply that is not a chat completion: {text[:200]!r}") from None
        return reply


def _samples(reply: dict[str, Any], latency: float) -> list[Sample]:
    choices = []
    for choice in reply["choices"]:
        message = choice.get("message") or {}
        # vLLM's reasoning parser sends `reasoning_content` (older) or `reasoning` (newer).
        reasoning = message.get("reasoning_content")
        if reasoning is None:
            reasoning = message.get("reasoning")
        choices.append((message.get("content") or "", reasoning, choice.get("finish_reason")))
    usage = reply.get("usage") or {}
    return samples_from(
        choices,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        cost_usd=None,
        latency_s=latency,
    )
