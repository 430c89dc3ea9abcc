"""The one thing that varies between endpoint judges: how one request body reaches one server.

A `Transport` sends an `EndpointRequest` (a chat-completions or completions body) once and
returns the reply's JSON, or fails with a `JudgeUnavailableError` (worth another attempt) or a
`JudgeRejectedError` (not), carrying the HTTP status and Retry-After it saw. It translates its
library's exceptions there and nowhere else; everything around it (option checks, the body,
the reply parser, retries, hedging, key masking) is the endpoint judge's and the same for all.
rrm_select ships three: `AiohttpTransport` (plain HTTP), `LiteLLMTransport` (any litellm
provider) and `FleetTransport` (several servers behind a litellm Router).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal

from rrm_select.judges.backend import SERVER_BUDGET_KEY

OWNED_KEYS = frozenset(
    {"model", "messages", "prompt", "n", "stream", "temperature", "top_p", "max_tokens", "max_completion_tokens",
     SERVER_BUDGET_KEY}
)  # fmt: skip
"""Body fields the endpoint judge sets from its own options: no extra body field may set them."""

EndpointPath = Literal["chat/completions", "completions"]
"""The OpenAI-compatible endpoints a judge uses: chat, or plain completions of a rendered prompt."""


@dataclass(frozen=True)
class EndpointRequest:
    """One request body, split into what the OpenAI API defines and what a server adds."""

    path: EndpointPath
    body: dict[str, Any]
    """The OpenAI fields the judge sets: ``messages`` (or ``prompt``), ``n``, decoding settings."""
    extra_body: dict[str, Any]
    """Server-specific fields (vLLM's ``structured_outputs``, ``top_k``, ...), sent in the body."""
    timeout_s: float


@dataclass(frozen=True)
class EndpointReply:
    """A reply's JSON (a chat completion or a completion) and what it took to get it."""

    body: dict[str, Any]
    latency_s: float
    """Seconds from sending to the whole reply, not counting the wait for a concurrency slot."""
    cost_usd: float | None = None


class Transport(ABC):
    """Sends one request to one model's endpoint; see the module docstring."""

    kind: str = "transport"
    """The client's name in the judge's settings (part of the cache fingerprint)."""

    @abstractmethod
    async def send(self, request: EndpointRequest) -> EndpointReply:
        """Send `request` once, holding a slot of this transport's concurrency limit.

        Raises `JudgeUnavailableError` for a failure worth retrying (no answer, timeouts, 429,
        5xx, a reply that is not JSON) and `JudgeRejectedError` for a refusal, each with
        `status` (None when no status came back) and `retry_after_s` set."""

    @property
    @abstractmethod
    def model(self) -> str:
        """The model as the judge's settings and messages name it."""

    @property
    @abstractmethod
    def endpoint(self) -> str:
        """Where requests go (a URL, or a list of servers), for messages."""

    def settings(self, extra_body: dict[str, Any]) -> dict[str, object]:
        """What of this transport changes the votes, with the request's extra body fields."""
        return {"backend": self.kind, "model": self.model, "extra_body": extra_body}

    @property
    def secrets(self) -> list[str]:
        """The API keys this transport sends, to be masked in every error."""
        return []

    def close(self) -> None:
        """Release open connections; idempotent."""


def retry_after_s(value: object) -> float | None:
    """A Retry-After header's seconds; None when absent or an HTTP date (rare for model servers:
    the policy's own backoff applies then)."""
    try:
        return max(0.0, float(value)) if value is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
