"""One selector configuration the planner can predict (`Setting`)."""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from rrm_select import EarlyStop, OrderPolicy

Method = Literal["knockout", "swiss", "elo", "majority"]


class Setting(BaseModel):
    """One selector configuration the planner can predict."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method
    finalists: int = 1
    votes: int = 1
    order: OrderPolicy = "random"
    early_stop: EarlyStop = "off"
    answer_aware: bool = False
    """With an answer key: no call between two of one answer (knockout, one finalist)."""
    thinking_budget: int | None = None
    """Every vote at this thinking budget: the judge's own (`Judge.thinking_budget`), planned
    with the report calibrated at it. None: the judge as calibrated (the one report, or the
    report without a budget)."""
    thinking_budgets: tuple[int, ...] | None = None
    """Escalation over these budgets (the selector's `thinking_budgets`), each planned with the
    report calibrated at it."""

    @model_validator(mode="after")
    def _one_kind_of_budget(self) -> Setting:
        budgets = self.thinking_budgets
        if budgets is None:
            return self
        if self.thinking_budget is not None:
            raise ValueError("give thinking_budget (the judge's) or thinking_budgets (escalation), not both")
        if len(budgets) < 2 or any(b <= a for a, b in itertools.pairwise(budgets)):
            raise ValueError(f"thinking_budgets must be two or more increasing budgets, got {budgets!r}")
        if self.votes < 3 or self.method == "majority":
            raise ValueError(f"thinking_budgets needs a judged setting with votes >= 3, got votes={self.votes}")
        return self

    @property
    def label(self) -> str:
        """A short name: method, votes, order, early stop, and ``@T`` (every vote at thinking
        budget T) or ``@T1>T2`` (escalation)."""
        if self.method == "majority":
            return "majority vote (no judge)"
        name = self.method if self.finalists == 1 else f"knockout+{self.finalists}"
        name += " aware" if self.answer_aware else ""
        name += f" k={self.votes} {self.order}" + (" decided" if self.early_stop == "decided" else "")
        if self.thinking_budgets is not None:
            return f"{name} @{'>'.join(map(str, self.thinking_budgets))}"
        return name if self.thinking_budget is None else f"{name} @{self.thinking_budget}"
