"""The endpoint judge: one class for every judge behind an OpenAI-compatible API.

`EndpointJudge` checks the decoding options, builds the request body (one merge rule for
`extra_body`, `verdict_regex` and the keys the judge owns), reads replies with one parser and
retries each request under its `RetryPolicy` with backoff (a server's Retry-After first). What
varies is the `Transport` that sends a body; `LiteLLMJudge` and `HTTPJudge` only pick one.
Errors never quote an API key, in their message or in the messages of anything chained to them.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from rrm_select.cache import JudgmentCache
from rrm_select.errors import InvalidArgumentError, JudgeError, JudgeUnavailableError, chain
from rrm_select.fail_fast import gather_fail_fast
from rrm_select.formats import JudgeFormat
from rrm_select.judges.backend import (
    SERVER_BUDGET_KEY,
    Backend,
    Forcing,
    Generation,
    Prompt,
    Sample,
    ThinkingBudget,
    answer_bound,
    check_sampling,
)
from rrm_select.judges.base import Judge, RetryPolicy
from rrm_select.judges.forcing import continuation_of, cut_at_budget, finished, joined
from rrm_select.judges.hedging import Hedge
from rrm_select.judges.reply import samples_of
from rrm_select.judges.transport import OWNED_KEYS, EndpointRequest, Transport
from rrm_select.rendering import Renderer, chat_template, r1_prompt


def merged_extra_body(extra_body: dict[str, Any] | None, verdict_regex: str | None) -> dict[str, Any]:
    """The caller's extra body fields with `verdict_regex` merged into ``structured_outputs``
    (the caller's other structured-output options kept); keys the judge owns are refused."""
    body = dict(extra_body or {})
    owned = OWNED_KEYS & body.keys()
    if owned:
        raise InvalidArgumentError(
            f"these are set by the judge and cannot be in extra_body: {sorted(owned)} (use the judge's options for "
            "them: temperature, top_p, max_tokens, thinking_budget, ...)"
        )
    if verdict_regex is not None:
        structured = body.get("structured_outputs", {})
        if not isinstance(structured, dict):
            raise InvalidArgumentError(f"extra_body['structured_outputs'] must be a dict, got {structured!r}")
        if "regex" in structured:
            raise InvalidArgumentError("give the regex either as verdict_regex or in extra_body, not both")
        body["structured_outputs"] = {**structured, "regex": verdict_regex}
    return body


def backoff_s(policy: RetryPolicy, attempt: int, retry_after_s: float | None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): the server's Retry-After
    when it sent one, else full jitter under an exponential ceiling (spreading many clients'
    retries apart); never more than `policy.max_backoff_s`."""
    if retry_after_s is not None:
        return min(retry_after_s, policy.max_backoff_s)
    ceiling = min(policy.max_backoff_s, policy.initial_backoff_s * 2 ** (attempt - 1))
    return random.uniform(0, ceiling)


class EndpointBackend(Backend):
    """Sends each prompt as one request with `n` through a transport, retrying transient failures.

    Under a thinking budget forced by the server, the request carries vLLM's
    ``thinking_token_budget``; forced by the client, it goes to the completions endpoint as the
    rendered prompt, and each sample cut at the budget is continued (see `judges.forcing`)."""

    forcing_modes = frozenset({"server", "client"})

    def __init__(
        self,
        transport: Transport,
        *,
        temperature: float,
        top_p: float,
        max_tokens: int | None,
        timeout: float,
        extra_body: dict[str, Any],
        retry: RetryPolicy,
        template: str | None = None,
    ) -> None:
        self.transport = transport
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.extra_body = extra_body
        self.retry = retry
        self.template = template
        self.render: Renderer = r1_prompt if template is None else chat_template(template)

    @property
    def name(self) -> str:
        return f"{self.transport.model} at {self.transport.endpoint}"

    @property
    def settings(self) -> dict[str, object]:
        settings: dict[str, object] = {
            **self.transport.settings(self.extra_body),
            "temperature": self.temperature,
            "top_p": self.top_p,
            # Without a budget, an unset max_tokens is 8192: the settings (and cache keys) of
            # judges from before budgets stay as they were.
            "max_tokens": answer_bound(self.max_tokens, None),
        }
        if self.template is not None:  # it renders client-forced prompts
            settings["chat_template"] = hashlib.sha256(self.template.encode()).hexdigest()[:16]
        return settings

    def close(self) -> None:
        self.transport.close()

    async def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        return await gather_fail_fast(*(self._generation(p) for p in prompts))

    def request_for(self, prompt: Prompt) -> EndpointRequest:
        """The (first) request for `prompt`'s samples."""
        thinking = prompt.thinking
        decoding = {"n": prompt.n, "temperature": self.temperature, "top_p": self.top_p}
        if thinking is None:
            fields = {"messages": prompt.messages, **decoding, "max_tokens": answer_bound(self.max_tokens, None)}
            return EndpointRequest("chat/completions", fields, self.extra_body, self.timeout)
        if thinking.forcing == "server":
            fields = {"messages": prompt.messages, **decoding, "max_tokens": thinking.max_tokens}
            extra_body = {**self.extra_body, SERVER_BUDGET_KEY: thinking.tokens}
            return EndpointRequest("chat/completions", fields, extra_body, self.timeout)
        fields = {"prompt": self.render(prompt.messages), **decoding, "max_tokens": thinking.tokens}
        return EndpointRequest("completions", fields, self.extra_body, self.timeout)

    async def _generation(self, prompt: Prompt) -> Generation:
        request = self.request_for(prompt)
        samples, attempts = await self._send(request, prompt.thinking)
        if prompt.thinking is None or prompt.thinking.forcing == "server":
            return Generation(samples, requests=attempts, retries=attempts - 1)
        cut = [i for i, sample in enumerate(samples) if cut_at_budget(sample)]
        continued = await gather_fail_fast(
            *(self._send(self._continuation(request, samples[i], prompt.thinking), prompt.thinking) for i in cut)
        )
        whole = [finished(sample) for sample in samples]
        for i, (rest, rest_attempts) in zip(cut, continued, strict=True):
            attempts += rest_attempts
            if rest:  # else the cut sample stays as it is: no verdict, resampled by the judge
                whole[i] = joined(samples[i], rest[0], prompt.thinking)
        return Generation(whole, requests=attempts, retries=attempts - 1 - len(cut))

    def _continuation(self, first: EndpointRequest, sample: Sample, thinking: ThinkingBudget) -> EndpointRequest:
        """The request continuing `sample` (cut at the budget) as the same generation."""
        fields = {
            **first.body,
            "prompt": first.body["prompt"] + continuation_of(sample.content, thinking),
            "n": 1,
            "max_tokens": thinking.max_tokens - thinking.tokens,
        }
        return EndpointRequest("completions", fields, first.extra_body, first.timeout_s)

    async def _send(self, request: EndpointRequest, thinking: ThinkingBudget | None) -> tuple[list[Sample], int]:
        """The samples of `request`, retried under the policy, and the attempts it took."""
        budget = thinking.tokens if thinking is not None and thinking.forcing == "server" else None
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.max_attempts),
            wait=self._backoff,
            retry=retry_if_exception_type(JudgeUnavailableError),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    samples = samples_of(await self.transport.send(request), budget)
        except JudgeError as exc:
            error = self._translate(exc, attempts, request)
            if not _quotes_any(exc, self.transport.secrets):
                raise error from exc
        else:
            return samples, attempts
        # The server quoted a key back in its error: the translated message masks it, and the
        # original, which holds it (as may its own causes), is left out of the chain; raised
        # here, outside the handler, so that it is not even the implicit context.
        raise error from None

    def _translate(self, exc: JudgeError, attempts: int, request: EndpointRequest) -> JudgeError:
        """The error the caller sees for the last failure: the judge's identity and attempts
        added, every key masked, and which forcing to use when the server cannot do this one."""
        cause = str(exc)
        for secret in self.transport.secrets:
            cause = cause.replace(secret, "***")
        if isinstance(exc, JudgeUnavailableError):
            message = f"judge {self.name} failed {attempts} attempt(s); last: {cause}"
        else:
            message = f"judge {self.name} refused the request: {cause}{_forcing_hint(exc, request)}"
        return type(exc)(
            message,
            judge=self.name,
            endpoint=self.transport.endpoint,
            attempts=attempts,
            status=exc.status,
            retry_after_s=exc.retry_after_s,
        )

    def _backoff(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after_s if isinstance(exc, JudgeError) else None
        return backoff_s(self.retry, state.attempt_number, retry_after)


class EndpointJudge(Judge):
    """A judge behind an OpenAI-compatible API, reached through `transport`.

    Args:
        transport: sends one request body (see `rrm_select.judges.transport`).
        temperature, top_p: decoding settings (the RRM paper's by default).
        max_tokens: the bound on a vote's whole output, reasoning and answer. None (default):
            8192 (the RRM paper's) without a thinking budget, the budget plus
            `VERDICT_ROOM_TOKENS` with one; an explicit value must be above the budget.
        timeout: seconds allowed per request before it counts as a transient failure.
        verdict_regex: ask a vLLM server to force every sample to match this regex (its
            structured outputs), merged into ``extra_body["structured_outputs"]``.
        extra_body: more fields for the request body (e.g. ``{"top_k": 20}`` for vLLM); the
            fields the judge sets from its options (`OWNED_KEYS`) are refused here.
        thinking_budget, forcing: reasoning tokens per vote, and how a vote reaching them is
            closed (see `Judge`). ``"server"`` sends vLLM's ``thinking_token_budget`` (the
            server needs ``--reasoning-parser``; llama.cpp's equivalent is its server flag
            ``--reasoning-budget``); ``"client"`` uses the server's completions endpoint with
            the prompt rendered by `chat_template`, and continues cut votes itself.
        chat_template: the judge model's Jinja chat template, to render prompts for
            ``forcing="client"``; None (default): the DeepSeek-R1 layout of the RRM checkpoints
            (`rrm_select.rendering.r1_prompt`).
        retry, hedge, format, cache: as for every `Judge`.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        temperature: float = 0.6,
        top_p: float = 1.0,
        max_tokens: int | None = None,
        timeout: float = 600.0,
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
        check_sampling(max_tokens, temperature, top_p)
        if timeout <= 0:
            raise InvalidArgumentError(f"timeout must be > 0 seconds, got {timeout!r}")
        retry = retry if retry is not None else RetryPolicy()
        backend = EndpointBackend(
            transport,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            timeout=timeout,
            extra_body=merged_extra_body(extra_body, verdict_regex),
            retry=retry,
            template=chat_template,
        )
        super().__init__(backend, format=format, retry=retry, hedge=hedge, cache=cache,
                         thinking_budget=thinking_budget, forcing=forcing)  # fmt: skip
        self.backend: EndpointBackend = backend
        self.verdict_regex = verdict_regex

    @property
    def transport(self) -> Transport:
        return self.backend.transport

    @property
    def model(self) -> str:
        return self.transport.model

    @property
    def max_tokens(self) -> int | None:
        """The explicit bound on a vote's tokens (None: it follows the thinking budget)."""
        return self.backend.max_tokens

    @property
    def extra_body(self) -> dict[str, Any]:
        return self.backend.extra_body


def _forcing_hint(exc: JudgeError, request: EndpointRequest) -> str:
    """What to do when a server refuses the kind of forcing asked of it."""
    if SERVER_BUDGET_KEY in request.extra_body and SERVER_BUDGET_KEY in str(exc):
        return (" (this server cannot force verdicts at a thinking budget: start vLLM with --reasoning-parser, "
                "e.g. deepseek_r1, or use forcing='client')")  # fmt: skip
    if request.path == "completions" and exc.status in (404, 405):
        return " (this server has no completions endpoint for forcing='client': use forcing='server')"
    return ""


def _quotes_any(exc: BaseException, secrets: list[str]) -> bool:
    """Whether an exception, or anything chained to it, mentions one of `secrets`."""
    return any(secret in f"{link} {link!r}" for link in chain(exc) for secret in secrets)
