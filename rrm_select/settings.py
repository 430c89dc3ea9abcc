"""The judge and the selection as one settings dict, for the command line and the litellm plugin.

The keys are the ``rrm-select select`` options with dashes turned into underscores (``--early-stop``
is ``early_stop``), with the command's defaults. Settings come in layers (the call, the proxy
config, the environment); `resolve` merges them key by key, the first layer that sets a key
winning, and remembers which layer set each one. Environment defaults are variables named
``RRM_SELECT_<KEY>`` (``RRM_SELECT_VOTES=3``; lists comma-separated: ``RRM_SELECT_API_BASE``,
``RRM_SELECT_THINKING_BUDGETS=1024,8192``).
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator

from rrm_select import (
    AnswerKey,
    EarlyStop,
    EloSelector,
    Forcing,
    Hedge,
    HTTPJudge,
    InvalidArgumentError,
    Judge,
    KnockoutSelector,
    LiteLLMJudge,
    OrderPolicy,
    RetryPolicy,
    RRMFormat,
    Selector,
    SelectorOptions,
    SwissSelector,
    VLLMJudge,
)
from rrm_select.answers import answer_from_spec

SELECTORS: dict[str, type[Selector]] = {cls.method: cls for cls in (KnockoutSelector, EloSelector, SwissSelector)}
"""What ``method`` names: each selector's own method name."""

Source = Literal["call", "config", "environment", "default"]
ENV_PREFIX = "RRM_SELECT_"


class Settings(BaseModel):
    """Every judge and selection setting, checked at construction (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The judge: where it is and how it is asked.
    model: str | None = None
    """litellm model of the judge (with ``client="http"``: the name the server serves)."""
    api_base: str | tuple[str, ...] | None = None
    """The judge's endpoint; several for a fleet of servers of the model."""
    client: Literal["litellm", "http"] = "litellm"
    api_key: SecretStr | None = None
    api_key_env: str = "RRM_API_KEY"
    """The environment variable holding the judge's key, when `api_key` is not given."""
    vllm: str | None = None
    """A model to run in-process with vLLM instead of an endpoint."""
    vllm_arg: tuple[str, ...] = ()
    """With `vllm`: engine options as KEY=VALUE (JSON values)."""
    concurrency: int = Field(64, ge=1)
    max_tokens: int | None = None
    thinking_budget: int | None = None
    forcing: Forcing | None = None
    temperature: float = 0.6
    timeout: float = Field(600.0, gt=0)
    max_attempts: int = Field(6, ge=1)
    max_text_chars: int | None = None
    verdict_rule: Literal["reference", "lenient"] = "reference"
    force_verdict: int | None = None
    # The selection.
    method: Literal["knockout", "elo", "swiss"] = "knockout"
    votes: int = 1
    order: OrderPolicy = "random"
    seed: int = 0
    early_stop: EarlyStop = "off"
    confidence: float = 0.95
    finalists: int = 1
    budget: int | None = None
    token_budget: int | None = None
    thinking_budgets: tuple[int, ...] | None = None
    deadline: float | None = None
    """Judging time per selection, in seconds."""
    hedge: float | None = None
    """Resend a judge request once it runs this many times the median latency."""
    answer: str | None = None
    """Candidates' answers, so that equal ones are not judged against each other: ``boxed``,
    ``number``, ``regex:PATTERN`` or ``json:FIELD`` (`rrm_select.answers.answer_from_spec`)."""

    @field_validator("answer")
    @classmethod
    def _answer_spec(cls, value: str | None) -> str | None:
        # Checked here, so that a bad spec fails at construction and is named as the answer key.
        if value is not None:
            answer_from_spec(value)
        return value

    @field_validator("api_base", "vllm_arg", "thinking_budgets", mode="before")
    @classmethod
    def _as_tuple(cls, value: Any, info: ValidationInfo) -> Any:
        # A list given as one string (an environment variable): "a,b" is ("a", "b").
        if isinstance(value, str) and "," in value:
            return tuple(part.strip() for part in value.split(","))
        if isinstance(value, list):
            return tuple(value)
        single = isinstance(value, str | int) and not isinstance(value, bool)
        return (value,) if single and info.field_name != "api_base" else value

    def key(self) -> str | None:
        """The judge's API key: `api_key`, else the variable `api_key_env` names (or None)."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        return os.environ.get(self.api_key_env) or None


DEFAULTS = Settings()
JUDGE_KEYS = frozenset(list(Settings.model_fields)[: list(Settings.model_fields).index("method")])
"""The judge's settings: its endpoint, key and how it is asked."""
SELECTION_KEYS = frozenset(Settings.model_fields) - JUDGE_KEYS
"""How candidates are compared: method, votes, budgets, deadline, seed."""


def settings_from(values: Mapping[str, Any], *, what: str = "rrm_select setting") -> Settings:
    """`Settings` from a dict, or an `InvalidArgumentError` naming the first bad key (never its
    value when it is a key)."""
    check_keys(values, Settings.model_fields, what=what)
    try:
        return Settings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "?"
        shown = "" if name == "api_key" else f", got {error.get('input')!r}"
        raise InvalidArgumentError(f"{what} {name!r}: {error['msg']}{shown}") from None


def check_keys(values: Mapping[str, Any], known: Any, *, what: str) -> None:
    """An `InvalidArgumentError` for the first key of `values` not in `known`, with the nearest
    known one."""
    for name in values:
        if name not in known:
            near = difflib.get_close_matches(str(name), list(known), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise InvalidArgumentError(f"unknown {what} {name!r}{hint}")


def environment_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings the environment gives: ``RRM_SELECT_<KEY>`` for every key (see the module
    docstring); empty variables are ignored."""
    environ = os.environ if environ is None else environ
    given = {name: environ.get(ENV_PREFIX + name.upper(), "") for name in Settings.model_fields}
    return {name: value for name, value in given.items() if value}


@dataclass(frozen=True)
class Resolved:
    """Settings merged from layers, and the layer that set each key (``"default"`` for none)."""

    settings: Settings
    sources: Mapping[str, Source]

    def record(self) -> dict[str, dict[str, Any]]:
        """Each key's value (the API key masked) and its source, as JSON data."""
        values = self.settings.model_dump(mode="json")
        if self.settings.api_key is not None:
            values["api_key"] = "****"
        return {name: {"value": values[name], "source": self.sources[name]} for name in Settings.model_fields}


def resolve(layers: Sequence[tuple[Source, Mapping[str, Any]]]) -> Resolved:
    """Merge `layers` (most important first) key by key, then check the result."""
    merged: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for source, values in layers:
        check_keys(values, Settings.model_fields, what=f"rrm_select setting (from the {source})")
        for name, value in values.items():
            if name not in merged and value is not None:
                merged[name], sources[name] = value, source
    settings = settings_from(merged)
    return Resolved(settings, {name: sources.get(name, "default") for name in Settings.model_fields})


def judge_format(settings: Settings) -> RRMFormat:
    """The prompt format the judge renders with and reads verdicts by."""
    return RRMFormat(max_text_chars=settings.max_text_chars, verdict_rule=settings.verdict_rule)


def thinking_options(settings: Settings) -> dict[str, Any]:
    """The judge's thinking options that are set; the others are left to the judge's defaults."""
    given = {"thinking_budget": settings.thinking_budget, "forcing": settings.forcing}
    return {option: value for option, value in given.items() if value is not None}


def build_judge(settings: Settings) -> Judge:
    """The judge `settings` describe: in-process vLLM, or an endpoint client."""
    regex = RRMFormat().verdict_regex(settings.force_verdict) if settings.force_verdict else None
    retry = RetryPolicy(max_attempts=settings.max_attempts)
    # Unset, max_tokens is the judge's to choose (it follows a thinking budget).
    bound = {} if settings.max_tokens is None else {"max_tokens": settings.max_tokens}
    judging = {"temperature": settings.temperature, "verdict_regex": regex, "format": judge_format(settings),
               "retry": retry, **thinking_options(settings), **bound}  # fmt: skip
    if settings.vllm:
        if settings.model or settings.api_base:
            raise InvalidArgumentError("give either vllm (a model run in-process) or model/api_base, not both")
        if settings.hedge:
            raise InvalidArgumentError("hedge applies to endpoint judges (model), not to in-process vllm")
        engine = dict(_engine_option(option) for option in settings.vllm_arg)
        return VLLMJudge(settings.vllm, **judging, **engine)
    if not settings.model:
        raise InvalidArgumentError("no judge: set model (and api_base for a local server), or vllm")
    endpoint = {
        "api_key": settings.key(),
        "timeout": settings.timeout,
        "max_concurrency": settings.concurrency,
        "hedge": Hedge(factor=settings.hedge) if settings.hedge else None,
        **judging,
    }
    bases = (settings.api_base,) if isinstance(settings.api_base, str) else settings.api_base
    if settings.client == "http":
        if not bases or len(bases) > 1:
            raise InvalidArgumentError("client http takes exactly one api_base (use the litellm client for a fleet)")
        return HTTPJudge(settings.model, api_base=bases[0], **endpoint)
    api_base = bases[0] if bases and len(bases) == 1 else list(bases) if bases else None
    return LiteLLMJudge(settings.model, api_base=api_base, **endpoint)


def _engine_option(option: str) -> tuple[str, Any]:
    key, sep, value = option.partition("=")
    if not sep or not key:
        raise InvalidArgumentError(f"vllm_arg wants KEY=VALUE, got {option!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value  # a plain string, e.g. dtype=bfloat16


def build_selector(settings: Settings, judge: Judge) -> Selector:
    """The selector `settings` describe, judging with `judge`."""
    options = SelectorOptions(
        votes=settings.votes,
        order=settings.order,
        early_stop=settings.early_stop,
        confidence=settings.confidence,
        budget=settings.budget,
        token_budget=settings.token_budget,
        deadline_s=settings.deadline,
        thinking_budgets=settings.thinking_budgets,
        seed=settings.seed,
    )
    # Passed only when set, so that the selectors' own default stays the one place it is decided.
    answer: dict[str, AnswerKey] = {"answer_key": answer_from_spec(settings.answer)} if settings.answer else {}
    if settings.method == "knockout":
        return KnockoutSelector(judge, finalists=settings.finalists, **options, **answer)
    if settings.finalists != 1:
        raise InvalidArgumentError("finalists applies to method knockout only")
    return SELECTORS[settings.method](judge, **options, **answer)
