"""The records a selection produces: every vote, every match, the result and its cost."""

from __future__ import annotations

import functools
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

Verdict = Literal[1, 2]
"""Which shown position the judge preferred: 1 = Assistant 1 (shown first), 2 = Assistant 2."""

Decision = Literal["majority", "tie_break", "no_valid_vote", "identical", "unplayed", "same_answer", "answer_prior"]
"""How a match was decided: a strict majority of valid votes; a seeded coin after a tie, or
because every vote abstained; without a call because both texts are the same (candidates
judged while still arriving are not folded beforehand); or, when the selection's budget or
deadline ran out before any vote, for the entrant with more match wins (a seeded coin if even).
With an answer key: ``same_answer``, without a call because both give the same answer (the one
that won more valid votes so far goes on); ``answer_prior``, the answers' agreement (the
selector's `answer_prior`) outweighed the judge's vote margin."""

StopReason = Literal["budget", "deadline", "tokens"]
"""What cut a selection short: its call budget, its deadline, or its judge-token budget."""

Method = Literal["knockout", "elo", "swiss"]
"""The tournament a selection played (see the selectors of the same names)."""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Usage(_Record):
    """What the judge spent, and how consistent it was across orders. Tokens and cost include
    resampled (discarded) samples."""

    requests: int = 0
    """Requests sent to the judge, counting top-ups, resamples, retries and hedges."""
    votes: int = 0
    abstentions: int = 0
    """Votes left without a verdict after resampling."""
    retries: int = 0
    """Requests repeated after a transient failure (429, 5xx, timeout, dropped connection)."""
    resamples: int = 0
    """Samples discarded because their verdict could not be parsed."""
    hedges: int = 0
    """Duplicate requests sent because the first was much slower than its peers (see `Hedge`)."""
    cached_votes: int = 0
    """Votes reused from a judgment cache (their tokens and cost were paid earlier, not counted)."""
    forced_votes: int = 0
    """Votes whose reasoning reached the thinking budget and was closed for them (`Vote.forced`)."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    """Known only where litellm has a price for the model; None otherwise."""
    wall_time_s: float = 0.0
    order_pairs: int = 0
    """Pairs of valid votes on the same match that saw opposite orders."""
    order_flips: int = 0
    """Of `order_pairs`, those whose two votes preferred different candidates: position bias."""

    @property
    def flip_rate(self) -> float | None:
        """How often the two orders of a pair disagreed (`order_flips / order_pairs`); None when
        no match was judged in both orders. A judge free of position bias and noise scores 0."""
        return self.order_flips / self.order_pairs if self.order_pairs else None

    def __add__(self, other: Usage) -> Usage:
        """Field by field; a cost known on one side only is taken as the sum (unpriced is free)."""
        summed = {name: getattr(self, name) + getattr(other, name) for name in Usage.model_fields if name != "cost_usd"}
        costs = [c for c in (self.cost_usd, other.cost_usd) if c is not None]
        return Usage(**summed, cost_usd=sum(costs) if costs else None)


class Vote(_Record):
    """One judge sample about one pair, mapped back to candidate indices.

    Fields marked ``per_run`` (timings, costs, whether the cache served it) differ between two
    runs that judged alike; `Selection.trace` leaves them out."""

    first: int
    """Candidate index shown as Assistant 1."""
    second: int
    """Candidate index shown as Assistant 2."""
    verdict: Verdict | None
    """The position the judge chose, or None when it gave no parseable verdict (an abstention)."""
    answer: str
    """The judge's raw answer text (after its reasoning)."""
    reasoning: str | None
    finish_reason: str | None
    latency_s: float = Field(json_schema_extra={"per_run": True})
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = Field(None, json_schema_extra={"per_run": True})
    discarded: tuple[str, ...] = ()
    """Raw outputs of earlier samples for this vote that had no parseable verdict."""
    thinking_budget: int | None = None
    """The reasoning tokens this vote was allowed (None: no budget, only `max_tokens`)."""
    forced: bool = False
    """The reasoning reached `thinking_budget` and was closed for the judge, which then answered
    from the reasoning it had (budget forcing). Known only where the judge can tell: see
    `rrm_select.judges.backend.Sample.reasoning_tokens`."""
    reasoning_tokens: int | None = None
    """Tokens of reasoning in the final sample; None where the server does not say."""
    cached: bool = Field(False, json_schema_extra={"per_run": True})
    """Taken from a `JudgmentCache` instead of the judge (no request, no new tokens)."""

    @property
    def winner(self) -> int | None:
        """Candidate index this vote prefers, or None for an abstention."""
        if self.verdict is None:
            return None
        return self.first if self.verdict == 1 else self.second


class Match(_Record):
    """A comparison of two candidates, decided by the majority of its valid votes."""

    a: int
    b: int
    round: int = Field(ge=1)
    """Knockout round (1 = first); 1 for every match of a round robin."""
    votes: tuple[Vote, ...]
    winner: int
    decided_by: Decision
    requests: int = Field(0, json_schema_extra={"per_run": True})
    retries: int = Field(0, json_schema_extra={"per_run": True})
    hedges: int = Field(0, json_schema_extra={"per_run": True})

    @property
    def loser(self) -> int:
        return self.b if self.winner == self.a else self.a

    @property
    def wins(self) -> tuple[int, int]:
        """Valid votes for (a, b)."""
        winners = [v.winner for v in self.votes]
        return winners.count(self.a), winners.count(self.b)


class Selection(_Record):
    """The result of one selection: the choice, the full ranking and the trace behind it."""

    query: str
    candidates: tuple[str, ...]
    method: Method
    best_index: int
    ranking: tuple[int, ...]
    """Every candidate index, best first. Duplicates of a text sit next to each other."""
    scores: tuple[float, ...]
    """Per candidate index: knockout = last round reached; elo and swiss = rating on the Elo
    scale (1500 = average)."""
    matches: tuple[Match, ...]
    usage: Usage = Field(json_schema_extra={"per_run": True})
    seed: int
    """The seed actually used; passing it back reproduces the pairs, orders and tie-breaks."""
    stopped_early: StopReason | None = None
    """Set when the selection's call budget, deadline or token budget cut it short: the result is
    the best so far (matches that got no vote are ``decided_by="unplayed"``)."""
    answers: tuple[str | None, ...] | None = None
    """Per candidate, the selector's answer key's answer (None: no answer found); None without
    an answer key."""
    settings: dict[str, dict[str, Any]] | None = None
    """Set when the selection was built from settings (the litellm provider): each setting's
    ``value`` (an API key masked) and the ``source`` that set it (call, config, environment or
    default)."""

    @property
    def best(self) -> str:
        return self.candidates[self.best_index]

    @property
    def votes(self) -> tuple[Vote, ...]:
        return tuple(v for m in self.matches for v in m.votes)

    def to_html(self) -> str:
        """This selection as a self-contained HTML page (no script, nothing fetched): the bracket
        or the standings, every match's votes and the judge's reasoning a click away. Long texts
        are cut in the page, never here."""
        from rrm_select.views.selection import selection_page  # the views load only when asked for

        return selection_page(self)

    def _repr_html_(self) -> str:
        """The picture a notebook shows for this selection (see `to_html`)."""
        from rrm_select.views.selection import selection_fragment

        return selection_fragment(self)

    def trace(self) -> dict[str, Any]:
        """The result and how it was reached, as JSON data, without the inputs (`query`,
        `candidates`) and without the fields marked ``per_run`` here and in `Match` and `Vote`:
        what a repeated or resumed run reproduces byte for byte (``rrm-select filter --emit
        ranking`` writes it)."""
        unset = {name: True for name in ("answers", "settings") if getattr(self, name) is None}
        return self.model_dump(mode="json", exclude={"query": True, "candidates": True, **unset, **_per_run(Selection)})


@functools.cache
def _per_run(record: type[BaseModel]) -> dict[str, Any]:
    """Pydantic's `exclude` for the fields of `record`, and of the records it holds, marked per run."""
    exclude: dict[str, Any] = {}
    for name, field in record.model_fields.items():
        extra = field.json_schema_extra
        if isinstance(extra, dict) and extra.get("per_run"):
            exclude[name] = True
            continue
        held = get_args(field.annotation)[0] if get_origin(field.annotation) is tuple else field.annotation
        if isinstance(held, type) and issubclass(held, _Record) and (inner := _per_run(held)):
            exclude[name] = inner if held is field.annotation else {"__all__": inner}
    return exclude
