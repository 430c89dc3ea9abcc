"""The judge `plan` plans with: from one calibration report (or by hand), or from several
reports of one judge, each calibrated at its own thinking budget; and the settings that then
use those budgets."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from rrm_select import InvalidArgumentError
from rrm_select.planning.judge import JudgeFigures, figures_of_report, judge_figures
from rrm_select.planning.setting import Setting


def reports_of(report: Any) -> list[Any]:
    """`plan`'s `report` as a list: none, one, or several (a list or tuple of them)."""
    if report is None:
        return []
    return list(report) if isinstance(report, list | tuple) else [report]


def calibrated_judges(
    reports: Sequence[Any], given: dict[str, float | None], ceiling: float
) -> tuple[list[JudgeFigures], list[str]]:
    """The judge at each report's thinking budget (none first, then ascending), or the one
    judge of one report with the figures `given` by hand over its own, or of those alone; and
    notes for the plan.

    Several reports must be at different thinking budgets, and take no figures by hand (whose
    would they replace?). Reports naming different judges are still planned, with a warning
    and a note, not refused: a judge's name includes where it is served, so the same model
    calibrated through two endpoints differs only there; mixing models is the user's call."""
    hand = {k: v for k, v in given.items() if v is not None}
    if len(reports) > 1 and hand:
        raise InvalidArgumentError(f"{sorted(hand)[0]} by hand cannot go with several reports; give one report")
    figures = [figures_of_report(r) for r in reports] or [{}]
    seen: set[int | None] = set()
    for budget in (f.get("thinking_budget") for f in figures):
        if budget in seen:
            raise InvalidArgumentError(f"two calibration reports at thinking budget {budget}: several reports must "
                                       "each be at a different thinking budget")  # fmt: skip
        seen.add(budget)
    notes = []
    names = sorted({str(f["judge"]) for f in figures if f.get("judge") is not None})
    if len(names) > 1:
        notes.append(f"the reports name different judges ({'; '.join(names)}): planned as one judge at several budgets")
        warnings.warn(notes[-1], UserWarning, stacklevel=3)
    judges = []
    for own in figures:
        f = {**own, **hand}
        for needed in ("accuracy", "tokens_per_vote"):
            if f.get(needed) is None:
                raise InvalidArgumentError(f"{needed} is needed: give a calibration report or {needed}=")
        judges.append(judge_figures(f["accuracy"], f["tokens_per_vote"], bias=_or(f.get("bias"), 0.5),
                                    abstain=_or(f.get("abstain"), 0.0), latency_per_vote=f.get("latency_per_vote"),
                                    ceiling=ceiling, thinking_budget=f.get("thinking_budget")))  # fmt: skip
    judges.sort(key=lambda j: (j.thinking_budget is not None, j.thinking_budget or 0))
    return judges, notes


def budget_settings(base: Sequence[Setting], judges: Sequence[JudgeFigures]) -> list[Setting]:
    """With judges at several budgets: each judged setting of `base` at each budget, and those
    with votes >= 3 escalating over every calibrated budget (when two or more are numbers);
    majority voting once. With one judge: `base` as it is."""
    if len(judges) == 1:
        return list(base)
    budgets = [j.thinking_budget for j in judges]
    ladder = tuple(b for b in budgets if b is not None)
    settings = []
    for setting in base:
        if setting.method == "majority":
            settings.append(setting)
            continue
        settings += [setting.model_copy(update={"thinking_budget": b}) for b in budgets]
        if len(ladder) >= 2 and setting.votes >= 3:
            settings.append(setting.model_copy(update={"thinking_budgets": ladder}))
    return settings


def _or(value: float | None, default: float) -> float:
    return default if value is None else value
