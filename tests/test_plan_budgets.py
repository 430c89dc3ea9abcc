"""`plan` over calibrations at two thinking budgets, against the real selectors.

The judge (`BudgetJudge`, written independently of `rrm_select.planning`) is sharper, abstains
less and is less biased at the higher budget; its reasoning runs past both budgets, so every
vote is closed at its budget and costs tokens by it. It is calibrated at each budget by
`rrm_select.calibrate` on labelled pairs drawn like the candidates, and `plan` gets only those
two reports; the real selectors run with the judge at one budget, or escalating over both.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_plan import N, SPREAD, BiasedJudge, selector_for

from rrm_select import InvalidArgumentError, Prompt, RetryPolicy, Sample, ScriptedBackend, ScriptedJudge, calibrate, plan
from rrm_select.calibration import CalibrationReport
from rrm_select.cli import main
from rrm_select.planning import Setting

LOW, HIGH = 16, 64
BEHAVIOUR = {LOW: (0.5, 0.10, 0.65), HIGH: (1.5, 0.02, 0.55)}
"""Per budget: merit sharpness, abstention, position bias."""
SELECTIONS = 240
TOKEN_TOLERANCE = 0.03
ESCALATE = (LOW, HIGH)

CHECKED = [
    Setting(method="knockout", thinking_budget=LOW),
    Setting(method="knockout", thinking_budget=HIGH),
    Setting(method="elo", thinking_budget=LOW),
    Setting(method="knockout", votes=3, order="alternate", thinking_budgets=ESCALATE),
    Setting(method="knockout", votes=3, early_stop="decided", thinking_budgets=ESCALATE),
    Setting(method="knockout", votes=5, early_stop="decided", thinking_budgets=ESCALATE),
    Setting(method="knockout", finalists=4, votes=3, thinking_budgets=ESCALATE),
    Setting(method="swiss", votes=3, order="both", early_stop="decided", thinking_budgets=ESCALATE),
    Setting(method="elo", votes=3, order="alternate", thinking_budgets=ESCALATE),
    Setting(method="swiss", votes=3, thinking_budget=HIGH),
]


class BudgetJudge(BiasedJudge):
    """`BiasedJudge` behaving as `BEHAVIOUR` says at the budget it was last told (`at`)."""

    def at(self, budget: int) -> None:
        self.sharpness, self.abstain, self.bias = BEHAVIOUR[budget]


class BudgetBackend(ScriptedBackend):
    """Tells its `BudgetJudge` each request's thinking budget before sampling it."""

    def sample(self, prompt: Prompt) -> Sample:
        assert prompt.thinking is not None, "every vote here has a budget"
        self.prefer.at(prompt.thinking.tokens)  # type: ignore[attr-defined]
        return super().sample(prompt)


def budget_judge(seed: int, thinking_budget: int | None = None) -> ScriptedJudge:
    backend = BudgetBackend(BudgetJudge(seed), reasoning_tokens=2 * HIGH)  # longer than either budget
    return ScriptedJudge(backend=backend, thinking_budget=thinking_budget, retry=RetryPolicy(resamples=0))


def report_at(budget: int, pairs: int = 8000) -> CalibrationReport:
    qualities = np.random.default_rng(budget).normal(0, SPREAD, (pairs, 2))
    rows = [{"id": str(i), "prompt": "which is best?", "chosen": f"candidate {max(q):.6f}",
             "rejected": f"candidate {min(q):.6f}"} for i, q in enumerate(qualities)]  # fmt: skip
    return calibrate(rows, budget_judge(budget, thinking_budget=budget), seed=budget)


@pytest.fixture(scope="module")
def reports() -> list[CalibrationReport]:
    return [report_at(LOW), report_at(HIGH)]


def run_real(setting: Setting, seed: int) -> tuple[float, float]:
    """Share of real selections picking the true best, and their mean judge tokens."""
    rng = np.random.default_rng(seed)
    selector = selector_for(setting, budget_judge(seed, setting.thinking_budget), seed)
    qualities = rng.normal(0, SPREAD, (SELECTIONS, N))
    candidates = [[f"candidate {q:.6f}" for q in row] for row in qualities]
    results = selector.select_many(["which is best?"] * SELECTIONS, candidates)
    right = np.mean([r.best_index == int(row.argmax()) for r, row in zip(results, qualities, strict=True)])
    tokens = np.mean([r.usage.prompt_tokens + r.usage.completion_tokens for r in results])
    return float(right), float(tokens)


def test_budget_and_escalation_predictions_match_the_real_selectors(reports: list[CalibrationReport]) -> None:
    assert [r.thinking_budget for r in reports] == [LOW, HIGH]
    predicted = plan(reports, n=N, settings=CHECKED, selections=3000, seed=3)
    rows, within, tokens_close = [], 0, 0
    for i, p in enumerate(predicted.ranked):
        real, tokens = run_real(p.setting, seed=300 + i)
        se_real = math.sqrt(max(real * (1 - real), 1 / SELECTIONS) / SELECTIONS)
        within += abs(p.accuracy - real) <= 3 * math.hypot(p.se, se_real)
        tokens_close += abs(p.tokens - tokens) <= TOKEN_TOLERANCE * tokens
        rows.append(f"{p.setting.label:<40} predicted {p.accuracy:.3f}±{p.se:.3f} measured {real:.3f}±{se_real:.3f}"
                    f" tokens {p.tokens:,.0f} / {tokens:,.0f}")  # fmt: skip
    print("\n".join(rows))
    assert within >= math.ceil(0.9 * len(CHECKED)), "\n".join(rows)
    assert tokens_close == len(CHECKED), "\n".join(rows)


def test_several_reports_plan_each_budget_and_escalation(reports: list[CalibrationReport]) -> None:
    result = plan(reports, n=4, selections=100)
    labels = {p.setting.label for p in (*result.ranked, *result.over_limit)}
    assert {"knockout k=1 random @16", "knockout k=1 random @64", "knockout k=3 alternate @16>64"} <= labels
    assert not any(label.endswith("k=1 random @16>64") for label in labels)  # escalation needs votes >= 3
    assert [j.thinking_budget for j in result.budgets] == [LOW, HIGH] and result.judge == result.budgets[0]
    low, high = result.budgets
    assert low.tokens_per_vote < high.tokens_per_vote and low.accuracy < high.accuracy
    escalating = next(p for p in result.ranked if p.setting.thinking_budgets)
    assert "thinking_budgets=(16, 64)" in escalating.python() and "--thinking-budgets 16,64" in escalating.flags()
    single = next(p for p in result.ranked if p.setting.thinking_budget == HIGH)
    assert single.python().endswith("# judge with thinking_budget=64") and "--thinking-budget 64" in single.flags()
    assert "judge at thinking budget 16 accuracy" in result.table() and "@T1>T2: escalation" in result.table()


def test_reports_must_differ_in_budget_and_name_one_judge(reports: list[CalibrationReport]) -> None:
    with pytest.raises(InvalidArgumentError, match="two calibration reports at thinking budget 16"):
        plan([reports[0], reports[0]], n=4, selections=100)
    with pytest.raises(InvalidArgumentError, match="accuracy by hand cannot go with several reports"):
        plan(reports, n=4, accuracy=0.8, selections=100)
    with pytest.raises(InvalidArgumentError, match="no calibration at thinking budget 32"):
        plan(reports, n=4, selections=100, settings=[Setting(method="knockout", thinking_budget=32)])
    other = reports[1].model_copy(update={"judge": "another judge"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = plan([reports[0], other], n=4, selections=100)
    assert any("name different judges" in str(w.message) for w in caught)
    assert any("name different judges" in note for note in result.notes)


def test_the_command_takes_the_report_option_repeated(
    reports: list[CalibrationReport], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = []
    for report in reports:
        paths += ["--report", str(tmp_path / f"r{report.thinking_budget}.json")]
        Path(paths[-1]).write_text(report.model_dump_json())
    assert main(["plan", *paths, "--n", "8", "--selections", "100"]) == 0
    out = capsys.readouterr().out
    assert "judge at thinking budget 64 accuracy" in out and "@16>64" in out and "cli:    --method" in out
    assert main(["plan", *paths[:2], *paths[:2], "--n", "8"]) == 2
    assert "two calibration reports at thinking budget 16" in capsys.readouterr().err
