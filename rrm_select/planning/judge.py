"""The judge the planning model simulates, from the figures a calibration measures.

A vote on a pair abstains with probability `abstain`. A valid vote is positional with
probability w = |2 bias - 1| (it names the answer shown first when bias > 0.5, the second one
otherwise), and on merit otherwise. A merit vote prefers the better of the pair with a
probability that depends on how far apart the two are: each candidate has a latent quality
q ~ Normal(0, spread^2), and a pair at distance d = |q_a - q_b| is judged right with probability
``0.5 + (ceiling - 0.5) * tanh(d / 2)`` (with ceiling 1: the Bradley-Terry probability
1 / (1 + exp(-d))), so close pairs are near a coin toss and far pairs near the ceiling.

The spread is calibrated so that the mean accuracy over random pairs of candidates equals the
judge's measured accuracy, net of abstentions (scored 0.5 by the calibration) and of position
bias (a positional vote is right half the time in a random order): that is, labelled pairs are
assumed to be as hard as two random candidates of one prompt.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from statistics import NormalDist

import numpy as np
from pydantic import BaseModel, ConfigDict

from rrm_select import InvalidArgumentError

# Standard normal quantiles at evenly spaced probabilities: a fixed quadrature for E[f(Z)].
_Z = np.array([NormalDist().inv_cdf((i + 0.5) / 4000) for i in range(4000)])


class JudgeFigures(BaseModel):
    """A judge's measured figures and the model parameters derived from them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    accuracy: float
    """Single-vote pairwise accuracy as the calibration scores it (an abstention counts 0.5)."""
    bias: float = 0.5
    """Share of valid votes for Assistant 1 (0.5: unbiased)."""
    abstain: float = 0.0
    """Share of votes without a verdict."""
    tokens_per_vote: float
    """Judge tokens (prompt + completion) one vote costs."""
    latency_per_vote: float | None = None
    """Seconds one vote (one wave of requests) takes; None: latency is not predicted."""
    ceiling: float = 1.0
    """The merit accuracy on pairs far apart in quality."""
    positional: float
    """Share of valid votes cast by position, not merit: |2 bias - 1|."""
    merit_accuracy: float
    """Mean accuracy of merit votes over random pairs."""
    spread: float
    """How far apart this judge sees candidates: a pair whose standardised latent qualities are
    d apart is judged on merit as `pair_accuracy(spread * d)` (0: every pair is a coin toss on
    merit). Judges at several thinking budgets see the same candidates through their own spread."""
    notes: tuple[str, ...] = ()
    thinking_budget: int | None = None
    """The thinking budget these figures were calibrated at (None: none, or not recorded)."""


def pair_accuracy(distance: np.ndarray, ceiling: float) -> np.ndarray:
    """Probability that a merit vote prefers the better of a pair `distance` apart in quality."""
    return 0.5 + (ceiling - 0.5) * np.tanh(np.abs(distance) / 2)


def mean_pair_accuracy(spread: float, ceiling: float) -> float:
    """Mean merit accuracy over pairs of qualities drawn from Normal(0, spread^2)."""
    return float(pair_accuracy(math.sqrt(2) * spread * _Z, ceiling).mean())


def judge_figures(
    accuracy: float,
    tokens_per_vote: float,
    *,
    bias: float = 0.5,
    abstain: float = 0.0,
    latency_per_vote: float | None = None,
    ceiling: float = 1.0,
    thinking_budget: int | None = None,
) -> JudgeFigures:
    """Check a judge's figures (calibrated at `thinking_budget`) and derive the model's
    parameters from them."""
    _share("accuracy", accuracy, open_low=True, open_high=True)
    _share("bias", bias, open_low=True, open_high=True)
    _share("abstain", abstain, open_low=False, open_high=True)
    _share("ceiling", ceiling, open_low=True, open_high=False)
    if ceiling <= 0.5:
        raise InvalidArgumentError(f"ceiling must be in (0.5, 1], got {ceiling!r}")
    if isinstance(tokens_per_vote, bool) or not isinstance(tokens_per_vote, int | float) or not tokens_per_vote > 0:
        raise InvalidArgumentError(f"tokens per vote must be a number > 0, got {tokens_per_vote!r}")
    if latency_per_vote is not None and not latency_per_vote >= 0:
        raise InvalidArgumentError(f"latency per vote must be >= 0 seconds, got {latency_per_vote!r}")
    valid = (accuracy - abstain / 2) / (1 - abstain)  # accuracy of the valid votes
    positional = abs(2 * bias - 1)
    if valid > 1 - positional / 2:
        raise InvalidArgumentError(
            f"accuracy {accuracy} with position bias {bias} and abstention {abstain} is impossible: a judge that "
            f"names Assistant {1 if bias > 0.5 else 2} in {max(bias, 1 - bias):.0%} of its valid votes is right "
            f"in at most {1 - positional / 2:.0%} of them"
        )
    merit = 0.5 if positional == 1 else (valid - positional / 2) / (1 - positional)
    notes: list[str] = []
    if merit < 0.5:
        notes.append(f"the judge is below chance on merit ({merit:.3f}); modelled as a coin toss on merit (0.5)")
        merit = 0.5
    if merit >= ceiling:
        raise InvalidArgumentError(
            f"the judge's merit accuracy {merit:.3f} (accuracy net of abstentions and position bias) must be "
            f"below the ceiling {ceiling}"
        )
    return JudgeFigures(accuracy=accuracy, bias=bias, abstain=abstain, tokens_per_vote=float(tokens_per_vote),
                        latency_per_vote=latency_per_vote, ceiling=ceiling, positional=positional,
                        merit_accuracy=merit, spread=_spread_for(merit, ceiling), notes=tuple(notes),
                        thinking_budget=thinking_budget)  # fmt: skip


def _spread_for(merit: float, ceiling: float) -> float:
    """The quality spread whose mean pairwise merit accuracy is `merit` (bisection)."""
    if merit <= 0.5:
        return 0.0
    low, high = 0.0, 1.0
    while mean_pair_accuracy(high, ceiling) < merit:
        high *= 2
    for _ in range(50):
        mid = (low + high) / 2
        low, high = (mid, high) if mean_pair_accuracy(mid, ceiling) < merit else (low, mid)
    return (low + high) / 2


def _share(name: str, value: object, *, open_low: bool, open_high: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise InvalidArgumentError(f"{name} must be a number, got {value!r}")
    low_ok = value > 0 if open_low else value >= 0
    high_ok = value < 1 if open_high else value <= 1
    if not (low_ok and high_ok):
        interval = ("(" if open_low else "[") + "0, 1" + (")" if open_high else "]")
        raise InvalidArgumentError(f"{name} must be in {interval}, got {value!r}")


def figures_of_report(report: Any) -> dict[str, Any]:
    """The overall figures `plan` needs from a calibration report (a `CalibrationReport`, its
    JSON as a dict, or the path of its JSON file), its thinking budget and its judge's name
    (None where the report does not say)."""
    if isinstance(report, str | Path):
        try:
            report = json.loads(Path(report).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidArgumentError(f"cannot read the calibration report {report}: {exc}") from exc
    if hasattr(report, "model_dump"):
        report = report.model_dump()
    if not isinstance(report, Mapping):
        raise InvalidArgumentError(
            f"a calibration report must be a CalibrationReport, a dict or a path, got {report!r}"
        )

    def field(*path: str) -> Any:
        value: Any = report
        for key in path:
            if not isinstance(value, Mapping) or key not in value:
                raise InvalidArgumentError(f"the calibration report has no {'.'.join(path)}")
            value = value[key]
        return value

    overall = ("overall",)
    accuracy = field(*overall, "single_vote", "estimate")
    bias = field(*overall, "position_bias")
    abstain = field(*overall, "abstention_rate")
    prompt, completion = field(*overall, "prompt_tokens", "median"), field(*overall, "completion_tokens", "median")
    if prompt is None or completion is None:
        raise InvalidArgumentError("the calibration report has no token counts (overall prompt and completion medians)")
    return {
        "accuracy": accuracy,
        "bias": 0.5 if bias is None else bias,  # no valid vote: no evidence of a bias
        "abstain": abstain,
        "tokens_per_vote": prompt + completion,
        "latency_per_vote": field(*overall, "latency_s", "median"),
        "thinking_budget": report.get("thinking_budget"),
        "judge": report.get("judge"),
    }
