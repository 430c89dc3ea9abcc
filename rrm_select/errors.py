"""Every error rrm_select raises on purpose.

    RRMError
    ├── InvalidArgumentError (also ValueError)  bad input or configuration, raised before any work
    ├── MissingDependencyError (also ImportError)  an optional extra is not installed
    ├── BudgetExhaustedError                    a selection's call budget is spent
    └── JudgeError                              the judge could not give votes
        ├── JudgeUnavailableError               transient failures outlasted the retry policy
        │                                       (unreachable, timeouts, 429/5xx, garbage replies)
        ├── JudgeRejectedError                  a permanent refusal: auth, unknown model, bad request,
        │                                       context too long; retrying cannot help
        └── DeadlineExceededError               a selection's deadline passed before any vote arrived

Third-party exceptions are translated once, at the transport or backend that saw them, and
chained with `from`. A `JudgeError` carries what a program may act on as attributes (never
inside the message only), with API keys masked; every error survives pickling, so an error
raised in a Ray worker reaches the driver whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class RRMError(Exception):
    """Base class of every error raised by rrm_select."""


class InvalidArgumentError(RRMError, ValueError):
    """An argument or option is invalid; the message names it."""


class MissingDependencyError(RRMError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class JudgeError(RRMError):
    """The judge could not produce votes.

    Attributes:
        judge: the judge's name (model and endpoint), or None where unknown.
        endpoint: the URL (or servers) the failed request went to; None for in-process judges.
        attempts: requests made before giving up (the first included), or None.
        status: the HTTP status of the last failed attempt; None when no status came back
            (could not connect, no reply in time, the connection dropped) and for in-process
            judges.
        retry_after_s: the server's Retry-After on the last attempt, in seconds, if it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        judge: str | None = None,
        endpoint: str | None = None,
        attempts: int | None = None,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.judge = judge
        self.endpoint = endpoint
        self.attempts = attempts
        self.status = status
        self.retry_after_s = retry_after_s

    @property
    def details(self) -> dict[str, Any]:
        """The attributes above, by name."""
        return {
            "judge": self.judge,
            "endpoint": self.endpoint,
            "attempts": self.attempts,
            "status": self.status,
            "retry_after_s": self.retry_after_s,
        }


class JudgeUnavailableError(JudgeError):
    """The judge kept failing transiently (unreachable, timing out, overloaded) past the retry policy."""


class JudgeRejectedError(JudgeError):
    """The judge refused the request permanently (authentication, unknown model, bad request)."""


class DeadlineExceededError(JudgeError):
    """A selection's deadline passed before the judge gave a single vote: there is no best so far."""


class BudgetExhaustedError(RRMError):
    """A call budget had no room for a judge call. Selectors return the best so far instead
    (`Selection.stopped_early == "budget"`), and raise it only when the budget could not pay for
    a single match."""


def chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception chained below it (causes and contexts), each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
