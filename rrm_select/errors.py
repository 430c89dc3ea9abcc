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

Third-party exceptions are translated once, at the judge backend, and chained with `from`.
"""

from __future__ import annotations


class RRMError(Exception):
    """Base class of every error raised by rrm_select."""


class InvalidArgumentError(RRMError, ValueError):
    """An argument or option is invalid; the message names it."""


class MissingDependencyError(RRMError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class JudgeError(RRMError):
    """The judge could not produce votes."""


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
