"""What the judges behind an OpenAI-compatible API share (`LiteLLMJudge`, `HTTPJudge`).

Decoding settings, a concurrency limit, and one request per prompt, retried under the judge's
`RetryPolicy` with backoff (a server's Retry-After first). A subclass sends one attempt and says
which of its failures are worth retrying and what the caller should see instead; errors never
carry an API key, in their message or in anything chained to them.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from rrm_select.errors import JudgeRejectedError, JudgeUnavailableError
from rrm_select.fail_fast import gather_fail_fast
from rrm_select.formats import JudgeFormat
from rrm_select.judges.base import (
    Generation,
    Judge,
    Prompt,
    RetryPolicy,
    Sample,
    backoff_s,
    check_endpoint_options,
)
from rrm_select.judges.hedging import Hedge
from rrm_select.judges.limit import ConcurrencyLimit


class EndpointJudge(Judge):
    """A judge that sends each prompt to a chat-completions endpoint as one request with `n`."""

    backend = "endpoint"
    """The `settings` name of the client (part of the cache fingerprint)."""

    def __init__(
        self,
        model: str,
        *,
        temperature: float,
        top_p: float,
        max_tokens: int,
        timeout: float,
        max_concurrency: int,
        verdict_regex: str | None,
        retry: RetryPolicy | None,
        hedge: Hedge | None,
        format: JudgeFormat | None,
    ) -> None:
        check_endpoint_options(max_tokens, max_concurrency, timeout, temperature, top_p)
        super().__init__(format=format, retry=retry, hedge=hedge)
        self.model = model
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.verdict_regex = verdict_regex
        self.limit = ConcurrencyLimit(max_concurrency)

    @property
    def settings(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "model": self._model_setting(),
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            **self._extra_settings(),
        }

    def _model_setting(self) -> object:
        return self.model

    @abstractmethod
    def _extra_settings(self) -> dict[str, object]:
        """Further request options that change the votes (extra body fields)."""

    @abstractmethod
    async def _attempt(self, prompt: Prompt) -> list[Sample]:
        """Send `prompt` once (holding a concurrency slot) and return its samples."""

    @abstractmethod
    def _is_transient(self, exc: BaseException) -> bool:
        """Whether a failed attempt is worth another (429, 5xx, timeouts, drops, garbage)."""

    @abstractmethod
    def _retry_after_s(self, exc: BaseException | None) -> float | None:
        """The server's Retry-After on a failed attempt, if it sent one."""

    @abstractmethod
    def _failure_text(self, exc: BaseException) -> str | None:
        """What the server said in a failed attempt; None when `exc` is no judge failure (a bug,
        a cancellation), which then reaches the caller unchanged."""

    def _secrets(self) -> list[str]:
        """The API keys that must never appear in an error."""
        return []

    def _translate(self, exc: BaseException, attempts: int) -> BaseException:
        """The error the caller sees for the last failure, with every key masked."""
        cause = self._failure_text(exc)
        if cause is None:
            return exc
        for secret in self._secrets():
            cause = cause.replace(secret, "***")
        if self._is_transient(exc):
            return JudgeUnavailableError(f"judge {self.name} failed {attempts} attempt(s); last: {cause}")
        return JudgeRejectedError(f"judge {self.name} refused the request: {cause}")

    async def _generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        return await gather_fail_fast(*(self._request(p) for p in prompts))

    async def _request(self, prompt: Prompt) -> Generation:
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.max_attempts),
            wait=self._backoff,
            retry=retry_if_exception(self._is_transient),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    samples = await self._attempt(prompt)
        except Exception as exc:
            error = self._translate(exc, attempts)
            if error is exc:
                raise
            if not _quotes_any(exc, self._secrets()):
                raise error from exc
        else:
            return Generation(samples, requests=attempts, retries=attempts - 1)
        # The server quoted a key back in its error: the translated message masks it, and the
        # original, which holds it (as may its own causes), is left out of the chain; raised
        # here, outside the handler, so that it is not even the implicit context.
        raise error from None

    def _backoff(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return backoff_s(self.retry, state.attempt_number, self._retry_after_s(exc))


def _quotes_any(exc: BaseException, secrets: list[str]) -> bool:
    """Whether an exception, or anything chained to it, mentions one of `secrets`."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if any(secret in f"{current} {current!r}" for secret in secrets):
            return True
        current = current.__cause__ or current.__context__
    return False
