"""rrm_select: best-of-N selection with a reward reasoning model (RRM) as the judge.

from rrm_select import KnockoutSelector, LiteLLMJudge
judge = LiteLLMJudge("hosted_vllm/Reward-Reasoning/RRM-7B", api_base="http://127.0.0.1:8000/v1")
best = KnockoutSelector(judge, votes=3).select(query, candidates).best
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rrm_select.answers import AnswerKey, answers_of
from rrm_select.cache import JudgmentCache
from rrm_select.conversation import BadRow, RejectCode, candidate_text, query_text, unicode_error
from rrm_select.errors import (
    BudgetExhaustedError,
    DeadlineExceededError,
    InvalidArgumentError,
    JudgeError,
    JudgeRejectedError,
    JudgeUnavailableError,
    MissingDependencyError,
    RRMError,
)
from rrm_select.fail_fast import gather_fail_fast
from rrm_select.formats import JudgeFormat, RRMFormat
from rrm_select.judges.aiohttp_transport import AiohttpTransport
from rrm_select.judges.backend import (
    Backend,
    Forcing,
    Generation,
    Prompt,
    Sample,
    ThinkingBudget,
    VoteRequest,
    answer_bound,
)
from rrm_select.judges.base import Ballot, CallAllowance, Judge, RetryPolicy
from rrm_select.judges.endpoint import EndpointJudge
from rrm_select.judges.fleet import FleetTransport
from rrm_select.judges.hedging import Hedge
from rrm_select.judges.http_judge import HTTPJudge
from rrm_select.judges.litellm_judge import LiteLLMJudge
from rrm_select.judges.litellm_transport import LiteLLMTransport
from rrm_select.judges.scripted import ScriptedBackend, ScriptedJudge
from rrm_select.judges.transport import EndpointReply, EndpointRequest, Transport
from rrm_select.judges.vllm_judge import VLLMBackend, VLLMJudge
from rrm_select.selectors.base import Selector, derive_seed
from rrm_select.selectors.elo import EloSelector
from rrm_select.selectors.knockout import KnockoutSelector
from rrm_select.selectors.swiss import SwissSelector
from rrm_select.selectors.tournament import SelectorOptions
from rrm_select.streaming import ResponseStream, generic_chunks
from rrm_select.sync_loop import run_sync
from rrm_select.types import Match, Selection, Usage, Vote
from rrm_select.voting import EarlyStop, OrderPolicy, count_orders, match_cost, order_disagreements, vote_orders
from rrm_select.wrappers import (
    Reranked,
    acompletion,
    arerank,
    completion,
    generation_usage_of,
    rerank,
    selection_of,
)


if TYPE_CHECKING:
    from rrm_select.calibration import CalibrationReport
    from rrm_select.planning import Plan


def calibrate(pairs: Iterable[Mapping[str, Any]], judge: Judge, **options: Any) -> CalibrationReport:
    """Measure `judge` on labelled chosen/rejected pairs: accuracies (the RRM paper's reference
    score among them), position bias, abstentions, tokens and latency, overall and per subset.
    The options and the result are `rrm_select.calibration.calibrate`'s (``rrm-select calibrate``)."""
    from rrm_select.calibration import calibrate as run

    return run(pairs, judge, **options)


async def acalibrate(pairs: Iterable[Mapping[str, Any]], judge: Judge, **options: Any) -> CalibrationReport:
    """`calibrate`, awaited."""
    from rrm_select.calibration import acalibrate as run

    return await run(pairs, judge, **options)


def plan(report: Any = None, *, n: int, **options: Any) -> Plan:
    """Rank selector settings (knockout, finalists, Swiss, round robin; votes; order; early stop)
    for picking the best of `n` with a judge, from its calibration `report` (a
    `CalibrationReport`, its JSON or a path) or its figures by hand (``accuracy=``, ``bias=``,
    ``tokens_per_vote=``): predicted accuracy, calls, tokens and latency of each, within a cost
    limit (``max_tokens_per_prompt=``) or for a ``target=`` accuracy. The options and the result
    are `rrm_select.planning.plan`'s (``rrm-select plan``)."""
    from rrm_select.planning import plan as run

    return run(report, n=n, **options)


def register_litellm() -> None:
    """Register the litellm provider ``rrm_select`` (idempotent): then
    ``litellm.completion(model="rrm_select/<generator model>", n=4, ...)`` returns the best of n,
    judged as the ``rrm_select`` settings say (see `rrm_select.litellm_provider`)."""
    from rrm_select.litellm_provider import register

    register()


__all__ = [
    "AiohttpTransport",
    "AnswerKey",
    "Backend",
    "BadRow",
    "Ballot",
    "BudgetExhaustedError",
    "CallAllowance",
    "DeadlineExceededError",
    "EarlyStop",
    "EloSelector",
    "EndpointJudge",
    "EndpointReply",
    "EndpointRequest",
    "FleetTransport",
    "Forcing",
    "Generation",
    "HTTPJudge",
    "Hedge",
    "InvalidArgumentError",
    "Judge",
    "JudgeError",
    "JudgeFormat",
    "JudgeRejectedError",
    "JudgeUnavailableError",
    "JudgmentCache",
    "KnockoutSelector",
    "LiteLLMJudge",
    "LiteLLMTransport",
    "Match",
    "MissingDependencyError",
    "OrderPolicy",
    "Prompt",
    "RRMError",
    "RRMFormat",
    "RejectCode",
    "Reranked",
    "ResponseStream",
    "RetryPolicy",
    "Sample",
    "ScriptedBackend",
    "ScriptedJudge",
    "Selection",
    "Selector",
    "SelectorOptions",
    "SwissSelector",
    "ThinkingBudget",
    "Transport",
    "Usage",
    "VLLMBackend",
    "VLLMJudge",
    "Vote",
    "VoteRequest",
    "acalibrate",
    "acompletion",
    "answer_bound",
    "answers_of",
    "arerank",
    "calibrate",
    "candidate_text",
    "completion",
    "count_orders",
    "derive_seed",
    "gather_fail_fast",
    "generation_usage_of",
    "generic_chunks",
    "match_cost",
    "order_disagreements",
    "plan",
    "query_text",
    "register_litellm",
    "rerank",
    "run_sync",
    "selection_of",
    "unicode_error",
    "vote_orders",
]
