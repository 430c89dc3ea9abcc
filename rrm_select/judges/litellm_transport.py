"""Requests through litellm: any provider litellm knows (hosted APIs, vLLM, llama.cpp servers).

litellm is imported on first use, not with rrm_select (it takes seconds to import), and made
quiet: rrm_select retries failures itself, so litellm's per-failure "Give Feedback / Get Help"
banner would be noise. Its exceptions are translated here into rrm_select's, by one table.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from typing import Any

from rrm_select.errors import (
    InvalidArgumentError,
    JudgeError,
    JudgeRejectedError,
    JudgeUnavailableError,
    MissingDependencyError,
    chain,
)
from rrm_select.judges.backend import check_positive_int
from rrm_select.judges.limit import ConcurrencyLimit
from rrm_select.judges.transport import (
    OWNED_KEYS,
    EndpointReply,
    EndpointRequest,
    Transport,
    retry_after_s,
)

LITELLM_OWNED_KEYS = OWNED_KEYS | {"api_base", "api_key", "num_retries", "timeout", "extra_body"}
"""litellm call arguments the transport and the judge set themselves."""


_UNAWAITED_LITELLM = r"coroutine '(BaseLLMHTTPHandler|OpenAI\w*|Azure\w*)\.\w+' was never awaited"


def import_litellm() -> Any:
    """litellm, imported on first use and quiet (shared by every part of rrm_select that calls it).

    `litellm.suppress_debug_info` is process-wide: rrm_select sets it whenever it calls litellm,
    which turns litellm's debug banner off for the whole program."""
    # Without this, importing litellm tries to download a price list, which stalls offline
    # machines for seconds. A user who wants the live list sets the variable to "False".
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError as exc:  # pragma: no cover - litellm is a core dependency
        raise MissingDependencyError("LiteLLMJudge needs litellm: pip install rrm-select") from exc
    litellm.suppress_debug_info = True
    # litellm.acompletion builds the provider's coroutine in a worker thread and then awaits it;
    # a call cancelled meanwhile (a run stopping at a failed row) leaves it unawaited, nothing
    # was sent, and Python would warn about it at exit.
    warnings.filterwarnings("ignore", message=_UNAWAITED_LITELLM, category=RuntimeWarning)
    return litellm


class LiteLLMTransport(Transport):
    """One litellm model (and endpoint), with a concurrency limit.

    Args:
        model: a litellm model name, e.g. ``"hosted_vllm/Reward-Reasoning/RRM-7B"``.
        api_base, api_key: the endpoint and its key (None: the provider's defaults).
        max_concurrency: requests in flight at once.
        **litellm_kwargs: passed to every litellm call unchanged (e.g. ``custom_llm_provider``).
    """

    kind = "litellm"

    def __init__(
        self,
        model: str,
        api_base: str | None = None,
        api_key: str | None = None,
        max_concurrency: int = 64,
        **litellm_kwargs: Any,
    ) -> None:
        if not model:
            raise InvalidArgumentError("model must be a non-empty litellm model name")
        check_positive_int("max_concurrency", max_concurrency)
        check_litellm_kwargs(litellm_kwargs)
        self._model = model
        self.api_base = api_base
        self._api_key = api_key
        self.litellm_kwargs = litellm_kwargs
        self.limit = ConcurrencyLimit(max_concurrency)

    def __repr__(self) -> str:
        return f"LiteLLMTransport(model={self._model!r}, api_base={self.api_base!r})"

    @property
    def model(self) -> str:
        return self._model

    @property
    def endpoint(self) -> str:
        return self.api_base or "the provider default endpoint"

    @property
    def secrets(self) -> list[str]:
        return [self._api_key] if self._api_key else []

    def settings(self, extra_body: dict[str, Any]) -> dict[str, object]:
        return litellm_settings(self.model, self.litellm_kwargs, extra_body)

    async def send(self, request: EndpointRequest) -> EndpointReply:
        litellm = import_litellm()
        async with self.limit:
            return await call_litellm(
                litellm_call(litellm, request),
                request,
                self.endpoint,
                model=self._model,
                api_base=self.api_base,
                api_key=self._api_key,
                **self.litellm_kwargs,
            )


def check_litellm_kwargs(litellm_kwargs: dict[str, Any]) -> None:
    """Refuse pass-through arguments that would override what the transport or judge sets."""
    owned = LITELLM_OWNED_KEYS & litellm_kwargs.keys()
    if owned:
        raise InvalidArgumentError(f"these are set by the judge and cannot be passed through: {sorted(owned)}")


def litellm_settings(model: object, litellm_kwargs: dict[str, Any], extra_body: dict[str, Any]) -> dict[str, object]:
    """A litellm transport's settings, shaped as before transports existed (the extra body
    inside the litellm arguments), so that existing caches stay valid."""
    kwargs = {**litellm_kwargs, "extra_body": extra_body} if extra_body else litellm_kwargs
    return {"backend": LiteLLMTransport.kind, "model": model, "litellm_kwargs": kwargs}


def litellm_call(litellm: Any, request: EndpointRequest) -> Callable[..., Any]:
    """The litellm (or Router) coroutine function for the request's endpoint."""
    return litellm.acompletion if request.path == "chat/completions" else litellm.atext_completion


async def call_litellm(
    call: Callable[..., Any], request: EndpointRequest, endpoint: str, **arguments: Any
) -> EndpointReply:
    """Make one litellm call for `request` (its retries off: they are the judge's) and return
    the reply as JSON, or raise the translated error."""
    extra = {"extra_body": request.extra_body} if request.extra_body else {}
    started = time.monotonic()
    try:
        response = await call(**request.body, **extra, timeout=request.timeout_s, num_retries=0, **arguments)
    except Exception as exc:
        error = translate(exc, endpoint)
        if error is None:
            raise
        raise error from exc
    latency = time.monotonic() - started
    cost = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
    return EndpointReply(response.model_dump(), latency, None if cost is None else float(cost))


def translate(exc: BaseException, endpoint: str) -> JudgeError | None:
    """rrm_select's error for a litellm failure; None for anything else (a bug, a cancellation),
    which reaches the caller unchanged."""
    import openai  # every litellm exception derives from the openai SDK's APIError

    if not isinstance(exc, openai.APIError):
        return None
    litellm = import_litellm()
    headers = getattr(exc, "litellm_response_headers", None) or {}
    retry_after = retry_after_s({str(k).lower(): v for k, v in dict(headers).items()}.get("retry-after"))
    unanswered = _unanswered(exc)
    if unanswered is not None:
        return JudgeUnavailableError(f"{unanswered} {endpoint}: {_text(exc)}", endpoint=endpoint)
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    message = f"{type(exc).__name__} (HTTP {status}): {_text(exc)}" if status else f"{type(exc).__name__}: {_text(exc)}"
    permanent = (
        litellm.BadRequestError,  # includes ContextWindowExceededError
        litellm.AuthenticationError,
        litellm.PermissionDeniedError,
        litellm.NotFoundError,
        litellm.UnprocessableEntityError,
    )
    kind = JudgeRejectedError if isinstance(exc, permanent) else JudgeUnavailableError
    return kind(message, endpoint=endpoint, status=status, retry_after_s=retry_after)


def _unanswered(exc: BaseException) -> str | None:
    """How no server answered, judging by what litellm chained below its error; None when one
    did. litellm reports all of these as HTTP 500."""
    import aiohttp
    import httpx

    if isinstance(exc, import_litellm().Timeout):
        return "no reply in time from"
    for link in chain(exc):
        if isinstance(link, httpx.ConnectError | aiohttp.ClientConnectorError | ConnectionRefusedError):
            return "could not connect to"
        if isinstance(link, httpx.TimeoutException | TimeoutError):
            return "no reply in time from"
        if isinstance(link, httpx.RemoteProtocolError | httpx.ReadError | aiohttp.ServerDisconnectedError
                      | ConnectionResetError):  # fmt: skip
            return "connection dropped by"
    return None


def _text(exc: BaseException) -> str:
    # A Router appends a paragraph about fallbacks to every error; it says nothing about the judge.
    return str(exc).split("\n\nLiteLLM: model group", 1)[0].replace("\n", " ").strip()
