"""The settings `plan` ranks, and the selector each one describes."""

from __future__ import annotations

from typing import Any

from rrm_select import EloSelector, KnockoutSelector, Selector, SwissSelector
from rrm_select.planning.setting import Setting

CLASSES: dict[str, type[Selector]] = {"knockout": KnockoutSelector, "swiss": SwissSelector, "elo": EloSelector}


def default_settings(n: int) -> list[Setting]:
    """Knockout (finalists 1, 2, 4), Swiss and round robin; votes 1, 3, 5; orders random,
    alternate, both; early stop off and decided (only where they differ: one vote has one order
    and nothing to stop early)."""
    settings = []
    for method, finalists in [("knockout", 1), ("knockout", 2), ("knockout", 4), ("swiss", 1), ("elo", 1)]:
        if finalists >= n or (method == "swiss" and n < 3):
            continue
        for votes in (1, 3, 5):
            for order in ("random", "both") if votes == 1 else ("random", "alternate", "both"):
                for early_stop in ("off",) if votes == 1 else ("off", "decided"):
                    setting = {"method": method, "finalists": finalists, "votes": votes, "order": order,
                               "early_stop": early_stop}  # fmt: skip
                    settings.append(Setting.model_validate(setting))
    return settings


def answer_settings() -> list[Setting]:
    """With answers: majority voting, and the answer-aware knockout (votes 1, 3, 5; orders;
    early stop as in `default_settings`)."""
    aware = [s.model_copy(update={"answer_aware": True}) for s in default_settings(2)]
    return [Setting(method="majority"), *(s for s in aware if s.method == "knockout")]


def build(setting: Setting, judge: Any, **options: Any) -> Selector:
    """The selector `setting` describes, over `judge`."""
    extra: dict[str, Any] = {"finalists": setting.finalists} if setting.method == "knockout" else {}
    if setting.answer_aware:
        extra["answer_key"] = options.pop("answer_key", lambda text: text)
    if setting.thinking_budgets is not None:
        extra["thinking_budgets"] = setting.thinking_budgets
    return CLASSES[setting.method](judge, votes=setting.votes, order=setting.order, early_stop=setting.early_stop,
                                   **extra, **options)  # fmt: skip
