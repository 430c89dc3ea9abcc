"""What `plan` returns: each setting's `Prediction` and the ranked `Plan`, with their text forms."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from rrm_select.planning.answers import AnswerModel
from rrm_select.planning.grid import CLASSES
from rrm_select.planning.judge import JudgeFigures
from rrm_select.planning.setting import Setting


class Prediction(BaseModel):
    """One setting's predicted accuracy and cost per selection."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    setting: Setting
    accuracy: float
    """Predicted share of selections that pick the true best."""
    se: float
    """The simulation's standard error of `accuracy`."""
    matches: int
    """Judged matches (`Selector.planned_matches`)."""
    calls: float
    """Expected judge requests."""
    calls_max: int
    votes: float
    """Expected votes."""
    tokens: float
    """Expected judge tokens (each vote at the tokens per vote of its thinking budget)."""
    tokens_max: float
    """The most judge tokens a selection can spend (what a cost limit is checked against)."""
    waves: float
    """Expected waves of votes along the tournament's rounds."""
    latency_s: float | None
    """Expected judging time (each wave at the latency per vote of its thinking budget); None
    without a latency per vote."""

    def python(self) -> str:
        """The selector as a line of Python (`judge` being the judge, `key` the answer key)."""
        s = self.setting
        if s.method == "majority":
            return "Counter(a for a in answers_of(key, candidates) if a is not None).most_common(1)  # no judge"
        options = [f"finalists={s.finalists}"] if s.finalists != 1 else []
        options += [f"votes={s.votes}"] if s.votes != 1 else []
        options += [f'order="{s.order}"'] if s.order != "random" else []
        options += [f'early_stop="{s.early_stop}"'] if s.early_stop != "off" else []
        options += ["answer_key=key"] if s.answer_aware else []
        options += [f"thinking_budgets={s.thinking_budgets!r}"] if s.thinking_budgets is not None else []
        line = f"{CLASSES[s.method].__name__}({', '.join(['judge', *options])})"
        # A single budget is the judge's own, not the selector's.
        return line if s.thinking_budget is None else f"{line}  # judge with thinking_budget={s.thinking_budget}"

    def flags(self) -> str:
        """The selector as ``rrm-select filter``/``select`` flags."""
        s = self.setting
        if s.method == "majority":
            return "(no judge: the most frequent answer)"
        flags = [f"--method {s.method}"] + ([f"--finalists {s.finalists}"] if s.finalists != 1 else [])
        flags += [f"--votes {s.votes}", f"--order {s.order}", f"--early-stop {s.early_stop}"]
        flags += ["--answer SPEC"] if s.answer_aware else []
        flags += [f"--thinking-budget {s.thinking_budget}"] if s.thinking_budget is not None else []
        flags += [f"--thinking-budgets {','.join(map(str, s.thinking_budgets))}"] if s.thinking_budgets else []
        return " ".join(flags)


class Plan(BaseModel):
    """The settings ranked for a judge and N (see `plan`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int
    judge: JudgeFigures
    """The judge (with reports at several thinking budgets: at the first of `budgets`)."""
    budgets: tuple[JudgeFigures, ...] = ()
    """With reports at several thinking budgets: the judge at each (no budget first, then
    ascending); empty with one judge."""
    max_tokens_per_prompt: float | None
    target: float | None
    selections: int
    seed: int
    answers: AnswerModel | None
    """With answers: accuracy is the share of selections whose answer is right."""
    ranked: tuple[Prediction, ...]
    """The settings within the cost limit, best first (see `plan` for the order)."""
    over_limit: tuple[Prediction, ...]
    """The settings whose worst case exceeds the cost limit, most accurate first."""
    notes: tuple[str, ...]

    @property
    def recommended(self) -> Prediction | None:
        return self.ranked[0] if self.ranked else None

    def table(self) -> str:
        """The ranked settings and the recommendation, as text."""
        width = max([37, *(len(p.setting.label) for p in (*self.ranked, *self.over_limit))])
        head = (f"{'rank':>4} {'setting':<{width}} {'accuracy':>15} {'calls':>6} {'tokens':>9} {'tokens max':>10} "
                f"{'waves':>5} {'latency s':>9}")  # fmt: skip
        lines = [head, *(_row(str(i), p, width) for i, p in enumerate(self.ranked, 1))]
        if self.over_limit:
            lines += ["", f"over the limit of {self.max_tokens_per_prompt:,.0f} judge tokens per selection:"]
            lines += [_row("-", p, width) for p in self.over_limit]
        lines += [""]
        for j in self.budgets or (self.judge,):
            at = "" if j.thinking_budget is None else f" at thinking budget {j.thinking_budget}"
            lines += [f"best of {self.n}; judge{at} accuracy {j.accuracy:.3f}, bias {j.bias:.2f}, abstain "
                      f"{j.abstain:.2f}, {j.tokens_per_vote:,.0f} tokens per vote; {self.selections} simulated "
                      f"selections (seed {self.seed})"]  # fmt: skip
        if self.budgets:
            lines += ["@T: every vote at thinking budget T (the judge's); @T1>T2: escalation (thinking_budgets)"]
        lines += list(self.notes)
        top = self.recommended
        if top is not None:
            lines += ["", f"recommended: {top.setting.label} ({top.accuracy:.1%} ± {top.se:.1%})",
                      f"  python: {top.python()}", f"  cli:    {top.flags()}"]  # fmt: skip
        return "\n".join(lines)


def _row(rank: str, p: Prediction, width: int) -> str:
    latency = "-" if p.latency_s is None else f"{p.latency_s:.1f}"
    accuracy = f"{p.accuracy:.3f} ± {p.se:.3f}"
    return (f"{rank:>4} {p.setting.label:<{width}} {accuracy:>15} {p.calls:>6.1f} {p.tokens:>9,.0f} {p.tokens_max:>10,.0f}"
            f" {p.waves:>5.1f} {latency:>9}")  # fmt: skip
