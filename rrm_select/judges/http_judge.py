"""`HTTPJudge`: the endpoint judge over plain HTTP (aiohttp), for one OpenAI-compatible server.

For about 0.3 ms of client CPU a request instead of litellm's 6.5 (`benchmarks/http_client.py`):
what a large round robin or a fast dataset filter ends up waiting on. See `AiohttpTransport`.
"""

from __future__ import annotations

from typing import Any

from rrm_select.cache import JudgmentCache
from rrm_select.formats import JudgeFormat
from rrm_select.judges.aiohttp_transport import AiohttpTransport
from rrm_select.judges.backend import Forcing
from rrm_select.judges.base import RetryPolicy
from rrm_select.judges.endpoint import EndpointJudge
from rrm_select.judges.hedging import Hedge


class HTTPJudge(EndpointJudge):
    """An RRM behind an OpenAI-compatible ``/chat/completions`` endpoint, without litellm.

    Args:
        model: the model name the server serves, e.g. ``"Reward-Reasoning/RRM-7B"`` (no
            litellm provider prefix).
        api_base: the endpoint, e.g. ``"http://127.0.0.1:8000/v1"``.
        api_key: sent as a bearer token, never recorded in traces or errors.
        temperature, top_p, max_tokens, timeout, max_concurrency, verdict_regex, extra_body,
            retry, hedge, format, cache, thinking_budget, forcing, chat_template: as for
            `LiteLLMJudge`.

    Connections are pooled per event loop; `close()` releases them (a loop's shutdown does too).
    """

    def __init__(
        self,
        model: str,
        *,
        api_base: str,
        api_key: str | None = None,
        temperature: float = 0.6,
        top_p: float = 1.0,
        max_tokens: int | None = None,
        timeout: float = 600.0,
        max_concurrency: int = 64,
        verdict_regex: str | None = None,
        extra_body: dict[str, Any] | None = None,
        retry: RetryPolicy | None = None,
        hedge: Hedge | None = None,
        format: JudgeFormat | None = None,
        cache: JudgmentCache | None = None,
        thinking_budget: int | None = None,
        forcing: Forcing = "server",
        chat_template: str | None = None,
    ) -> None:
        transport = AiohttpTransport(model, api_base, api_key, max_concurrency)
        super().__init__(transport, temperature=temperature, top_p=top_p, max_tokens=max_tokens, timeout=timeout,
                         verdict_regex=verdict_regex, extra_body=extra_body, retry=retry, hedge=hedge, format=format,
                         cache=cache, thinking_budget=thinking_budget, forcing=forcing,
                         chat_template=chat_template)  # fmt: skip
        self.api_base = transport.api_base

    def __repr__(self) -> str:
        return f"HTTPJudge(model={self.model!r}, api_base={self.api_base!r})"
