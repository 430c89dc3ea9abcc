"""`LiteLLMJudge`: the endpoint judge over litellm, for any provider and for fleets of servers.

The k votes of one ordering go out as one request with `n=k`; requests run concurrently up to
`max_concurrency`, a limit shared by every selection using this judge object. Given several
servers (a list of API bases, or a litellm `Router`), the judge spreads requests over them with a
limit per server and leaves failing ones out (see `rrm_select.judges.fleet`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rrm_select.cache import JudgmentCache
from rrm_select.errors import InvalidArgumentError
from rrm_select.formats import JudgeFormat
from rrm_select.judges.backend import Forcing
from rrm_select.judges.base import RetryPolicy
from rrm_select.judges.endpoint import EndpointJudge
from rrm_select.judges.fleet import FleetTransport
from rrm_select.judges.hedging import Hedge
from rrm_select.judges.litellm_transport import LiteLLMTransport
from rrm_select.judges.transport import Transport


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
        temperature, top_p: decoding settings (the RRM paper's by default).
        max_tokens: the bound on a vote's whole output; None (default): 8192 without a thinking
            budget, the budget plus `VERDICT_ROOM_TOKENS` with one.
        timeout: seconds allowed per request before it counts as a transient failure.
        max_concurrency: requests in flight at once, across every selection using this judge;
            with several servers, per server.
        verdict_regex: ask a vLLM server to force every sample to match this regex (its
            structured outputs), e.g. ``RRMFormat().verdict_regex(200)`` for a weak judge.
            With ``--reasoning-parser``, start the server with
            ``--structured-outputs-config '{"enable_in_reasoning": true}'``.
        extra_body: more fields for the request body (e.g. ``{"top_k": 20}`` for vLLM); not
            the ones the judge sets itself (``temperature``, ``max_tokens``, ``n``, ...).
        retry: retry and resampling policy.
        hedge: duplicate a request much slower than its peers and take the first answer (see
            `Hedge`); off by default.
        format: prompt and verdict format.
        cache: a `JudgmentCache` reusing votes already paid for.
        thinking_budget, forcing, chat_template: reasoning tokens per vote, how a vote reaching
            them is closed, and the template client forcing renders prompts with (see
            `EndpointJudge`). ``"server"`` sends ``thinking_token_budget`` in the body (not
            litellm's ``thinking`` option, which means something else for ``hosted_vllm``);
            ``"client"`` uses ``litellm.atext_completion``.
        **litellm_kwargs: passed to ``litellm.acompletion`` unchanged (e.g. ``seed``).
    """

    def __init__(
        self,
        model: str,
        *,
        api_base: str | Sequence[str] | None = None,
        api_key: str | None = None,
        router: Any = None,
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
        **litellm_kwargs: Any,
    ) -> None:
        if not model:
            raise InvalidArgumentError("model must be a non-empty litellm model name")
        if router is not None and api_base is not None:
            raise InvalidArgumentError("give either api_base or router, not both (the router knows its servers)")
        transport: Transport
        if router is not None:
            transport = FleetTransport(router, model, max_concurrency, **litellm_kwargs)
        elif api_base is not None and not isinstance(api_base, str):
            transport = FleetTransport.of_servers(model, list(api_base), api_key, max_concurrency, **litellm_kwargs)
        else:
            transport = LiteLLMTransport(model, api_base, api_key, max_concurrency, **litellm_kwargs)
        super().__init__(transport, temperature=temperature, top_p=top_p, max_tokens=max_tokens, timeout=timeout,
                         verdict_regex=verdict_regex, extra_body=extra_body, retry=retry, hedge=hedge, format=format,
                         cache=cache, thinking_budget=thinking_budget, forcing=forcing,
                         chat_template=chat_template)  # fmt: skip
        self.api_base = api_base if isinstance(api_base, str) or api_base is None else list(api_base)

    def __repr__(self) -> str:
        return f"LiteLLMJudge(model={self.model!r}, api_base={self.api_base!r})"
