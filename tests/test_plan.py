"""`plan`'s predictions against the real selectors, with a scripted judge of known behaviour.

The judge here is written independently of `rrm_select.planning`: each candidate carries a
latent quality; a vote abstains with probability ABSTAIN, names the answer shown first with
probability 2 * BIAS - 1, and otherwise prefers the better one with probability
0.5 + 0.5 * tanh(|q_a - q_b| / 2) (a Bradley-Terry judge: close pairs are near a coin toss).
Its single-vote accuracy, as a calibration would measure it over random pairs of candidates,
is worked out here by Monte Carlo, and `plan` gets only that figure, the bias and the abstention.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from rrm_select import (
    EloSelector,
    InvalidArgumentError,
    KnockoutSelector,
    RetryPolicy,
    ScriptedJudge,
    SwissSelector,
    plan,
)
from rrm_select.cli import main
from rrm_select.planning import Setting

N, SPREAD, BIAS, ABSTAIN = 8, 1.5, 0.6, 0.05
SELECTIONS = 240

CHECKED = [
    Setting(method="knockout"),
    Setting(method="knockout", votes=3, order="alternate"),
    Setting(method="knockout", votes=3, early_stop="decided"),
    Setting(method="knockout", finalists=4, votes=3),
    Setting(method="swiss"),
    Setting(method="swiss", votes=3, order="both", early_stop="decided"),
    Setting(method="elo"),
    Setting(method="elo", votes=3, order="alternate"),
]


def measured_accuracy() -> float:
    """The scripted judge's single-vote accuracy over random pairs (abstentions score 0.5)."""
    rng = np.random.default_rng(99)
    gap = np.abs(rng.normal(0, SPREAD, 400_000) - rng.normal(0, SPREAD, 400_000))
    merit = float(np.mean(0.5 + 0.5 * np.tanh(gap / 2)))
    positional = 2 * BIAS - 1
    return (1 - ABSTAIN) * (positional * 0.5 + (1 - positional) * merit) + ABSTAIN * 0.5


class SimulatedJudge:
    """A vote abstains with probability `abstain`, names Assistant 1 with probability
    2 * `bias` - 1, and is otherwise cast on merit (`on_merit`, given a fresh uniform draw)."""

    abstain, bias = ABSTAIN, BIAS

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, query: str, first: str, second: str) -> int | None:
        u = self.rng.random(3)
        if u[0] < self.abstain:
            return None
        if u[1] < 2 * self.bias - 1:
            return 1
        return self.on_merit(first, second, float(u[2]))

    def on_merit(self, first: str, second: str, u: float) -> int:
        raise NotImplementedError


class BiasedJudge(SimulatedJudge):
    """Candidates are ``"candidate <quality>"``; votes as the module docstring says, a gap in
    quality counting `sharpness` times."""

    sharpness = 1.0

    def on_merit(self, first: str, second: str, u: float) -> int:
        q1, q2 = float(first.split()[1]), float(second.split()[1])
        right = u < 0.5 + 0.5 * math.tanh(self.sharpness * abs(q1 - q2) / 2)
        return (1 if q1 > q2 else 2) if right else (2 if q1 > q2 else 1)


def selector_for(setting: Setting, judge: ScriptedJudge, seed: int) -> KnockoutSelector | SwissSelector | EloSelector:
    options = {"votes": setting.votes, "order": setting.order, "early_stop": setting.early_stop, "seed": seed,
               "thinking_budgets": setting.thinking_budgets}  # fmt: skip
    if setting.method == "knockout":
        return KnockoutSelector(judge, finalists=setting.finalists, **options)  # type: ignore[arg-type]
    return (SwissSelector if setting.method == "swiss" else EloSelector)(judge, **options)  # type: ignore[arg-type]


def run_real(setting: Setting, seed: int) -> float:
    """Share of SELECTIONS real selections (fresh qualities each) that pick the true best."""
    rng = np.random.default_rng(seed)
    judge = ScriptedJudge(BiasedJudge(seed), retry=RetryPolicy(resamples=0))
    selector = selector_for(setting, judge, seed)
    qualities = rng.normal(0, SPREAD, (SELECTIONS, N))
    candidates = [[f"candidate {q:.6f}" for q in row] for row in qualities]
    results = selector.select_many(["which is best?"] * SELECTIONS, candidates)
    return float(np.mean([r.best_index == int(row.argmax()) for r, row in zip(results, qualities, strict=True)]))


def test_predictions_match_the_real_selectors() -> None:
    predicted = plan(n=N, accuracy=measured_accuracy(), bias=BIAS, abstain=ABSTAIN, tokens_per_vote=1000,
                     settings=CHECKED, selections=3000, seed=1)  # fmt: skip
    rows, within = [], 0
    measured: dict[Setting, tuple[float, float]] = {}
    for i, p in enumerate(predicted.ranked):
        real = run_real(p.setting, seed=100 + i)
        se_real = math.sqrt(max(real * (1 - real), 1 / SELECTIONS) / SELECTIONS)
        measured[p.setting] = (real, se_real)
        combined = math.hypot(p.se, se_real)
        within += abs(p.accuracy - real) <= 3 * combined
        rows.append(f"{p.setting.label:<32} predicted {p.accuracy:.3f}±{p.se:.3f} measured {real:.3f}±{se_real:.3f}")
    print("\n".join(rows))
    assert within >= math.ceil(0.9 * len(CHECKED)), "\n".join(rows)
    (top, se_top), (second, se_second) = (measured[p.setting] for p in predicted.ranked[:2])
    assert top >= second - 2 * math.hypot(se_top, se_second), "\n".join(rows)


def test_the_simulated_costs_agree_with_the_selectors() -> None:
    predicted = plan(n=N, accuracy=0.75, bias=0.55, tokens_per_vote=100, settings=CHECKED, selections=200)
    for p in predicted.ranked:
        assert p.calls <= p.calls_max and p.votes * 100 <= p.tokens_max + 1e-9
        if p.setting.early_stop == "off":  # every vote of every planned match is cast
            assert p.tokens == pytest.approx(p.tokens_max)


def test_the_cost_limit_filters_and_the_ranking_is_by_accuracy() -> None:
    result = plan(n=N, accuracy=0.8, bias=0.5, tokens_per_vote=1000, max_tokens_per_prompt=30_000, selections=300)
    assert result.ranked and result.over_limit
    assert all(p.tokens_max <= 30_000 for p in result.ranked)
    assert all(p.tokens_max > 30_000 for p in result.over_limit)
    accuracies = [p.accuracy for p in result.ranked]
    assert accuracies == sorted(accuracies, reverse=True)
    assert "recommended:" in result.table()


def test_a_target_puts_the_cheapest_setting_reaching_it_first() -> None:
    result = plan(n=N, accuracy=0.8, tokens_per_vote=1000, target=0.6, selections=300)
    reaching = [p for p in result.ranked if p.accuracy >= 0.6]
    assert result.recommended is not None and result.recommended.accuracy >= 0.6
    assert result.recommended.tokens_max == min(p.tokens_max for p in reaching)


def test_the_recommended_python_line_builds_a_selector_that_runs() -> None:
    result = plan(n=4, accuracy=0.8, bias=0.55, tokens_per_vote=1000, max_tokens_per_prompt=20_000, selections=200)
    top = result.recommended
    assert top is not None
    judge = ScriptedJudge.by_score(lambda text: float(text.split()[1]))
    selector = eval(top.python(), {"judge": judge, "KnockoutSelector": KnockoutSelector,  # noqa: S307
                                   "SwissSelector": SwissSelector, "EloSelector": EloSelector})  # fmt: skip
    assert selector.select("q", [f"candidate {q}" for q in (1, 4, 2, 3)]).best_index == 1
    assert top.flags().startswith(f"--method {top.setting.method}")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"accuracy": 1.2, "tokens_per_vote": 10}, "accuracy must be in (0, 1)"),
        ({"accuracy": 0.0, "tokens_per_vote": 10}, "accuracy must be in (0, 1)"),
        ({"accuracy": 0.8}, "tokens_per_vote is needed"),
        ({"tokens_per_vote": 10}, "accuracy is needed"),
        ({"accuracy": 0.8, "bias": 0.9, "tokens_per_vote": 10}, "impossible"),
        ({"accuracy": 0.8, "tokens_per_vote": -1}, "tokens per vote must be a number > 0"),
        ({"accuracy": 0.8, "bias": 0.0, "tokens_per_vote": 10}, "bias must be in (0, 1)"),
    ],
)
def test_bad_figures_are_named(options: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan(n=N, **options)  # type: ignore[arg-type]


def test_a_report_without_a_figure_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="no overall.single_vote"):
        plan({"overall": {"prompt_tokens": {"median": 1}, "completion_tokens": {"median": 1}}}, n=N)
    with pytest.raises(InvalidArgumentError, match="no token counts"):
        bad = report_json()
        bad["overall"]["prompt_tokens"] = {"median": None}  # type: ignore[index]
        plan(bad, n=N)
    with pytest.raises(InvalidArgumentError, match="n must be an integer >= 2"):
        plan(n=1, accuracy=0.8, tokens_per_vote=10)


def report_json() -> dict[str, object]:
    spread = {"median": 500.0, "p90": 900.0, "mean": 550.0}
    return {"overall": {"single_vote": {"estimate": 0.78, "low": 0.7, "high": 0.85}, "position_bias": 0.57,
                        "abstention_rate": 0.02, "prompt_tokens": spread, "completion_tokens": spread,
                        "latency_s": {"median": 12.0, "p90": 20.0, "mean": 13.0}}}  # fmt: skip


def test_the_command_prints_the_table_and_the_recommendation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report_json()))
    assert main(["plan", "--report", str(path), "--n", "8", "--max-tokens-per-prompt", "60000",
                 "--selections", "200"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "recommended:" in out and "python: " in out and "cli:    --method" in out
    assert "1,000 tokens per vote" in out and "over the limit of 60,000" in out
    assert main(["plan", "--n", "8", "--accuracy", "1.5", "--tokens-per-vote", "10"]) == 2
    assert "accuracy must be in (0, 1)" in capsys.readouterr().err
    assert main(["plan", "--report", str(tmp_path / "missing.json"), "--n", "8"]) == 2


def test_a_calibration_report_is_read_as_an_object_or_its_json_file(tmp_path: Path) -> None:
    from rrm_select.calibration import CalibrationReport

    interval = {"estimate": 0.78, "low": 0.7, "high": 0.85}
    figures = {**report_json()["overall"], "pairs": 100, "votes": 100, "reference": interval,  # type: ignore[dict-item]
               "majority": interval, "flip_rate": 0.2, "order_pairs": 10, "first_sample_abstention_rate": 0.02,
               "forced_rate": 0.0, "cached_votes": 0}  # fmt: skip
    report = CalibrationReport(judge="j", votes=1, order="random", seed=0, resamples=0, rejected=0,
                               overall=figures, subsets={})  # type: ignore[arg-type]  # fmt: skip
    path = tmp_path / "report.json"
    path.write_text(report.model_dump_json())
    from_object, from_file = (plan(r, n=4, selections=100) for r in (report, path))
    assert from_object.judge == from_file.judge
    assert (from_object.judge.accuracy, from_object.judge.bias, from_object.judge.tokens_per_vote) == (0.78, 0.57, 1000)
    assert from_object.judge.latency_per_vote == 12.0
    assert plan(report, n=4, accuracy=0.9, selections=100).judge.accuracy == 0.9  # a figure by hand wins


MERIT = 0.8  # the answer judge's accuracy between a right and a wrong answer, on merit
SHARE = 0.45

ANSWER_CHECKED = [
    Setting(method="majority"),
    Setting(method="knockout", answer_aware=True),
    Setting(method="knockout", votes=3, order="alternate", answer_aware=True),
    Setting(method="knockout", votes=3, early_stop="decided", answer_aware=True),
    Setting(method="knockout"),
    Setting(method="elo"),
]


class AnswerJudge(SimulatedJudge):
    """Candidates are ``"candidate <i> answer <label>"`` (label 0 right); abstains, votes by
    position, else prefers the right answer with probability MERIT (a coin between two alike)."""

    def on_merit(self, first: str, second: str, u: float) -> int:
        right1, right2 = first.endswith(" 0"), second.endswith(" 0")
        if right1 == right2:
            return 1 if u < 0.5 else 2
        return (1 if right1 else 2) if u < MERIT else (2 if right1 else 1)


def run_real_answers(setting: Setting, seed: int) -> tuple[float, int]:
    """Share of real selections whose answer is right, and their count (SELECTIONS; majority
    voting, which needs no judge, ten times as many)."""
    rng = np.random.default_rng(seed)
    judge = ScriptedJudge(AnswerJudge(seed), retry=RetryPolicy(resamples=0))
    weights = [SHARE, *(np.array([0.5, 0.3, 0.2]) * (1 - SHARE))]
    count = SELECTIONS * (10 if setting.method == "majority" else 1)
    labels = rng.choice(4, size=(count, N), p=weights)
    candidates = [[f"candidate {i} answer {label}" for i, label in enumerate(row)] for row in labels]
    if setting.method == "majority":
        picks = []
        for row in labels:
            counts = np.bincount(row, minlength=4)
            picks.append(int(rng.choice(np.flatnonzero(counts == counts.max()))))
        return float(np.mean([p == 0 for p in picks])), count
    options = {"answer_key": lambda text: text.split()[-1]} if setting.answer_aware else {}
    selector = selector_for(setting, judge, seed)
    if options:
        selector = KnockoutSelector(judge, votes=setting.votes, order=setting.order, early_stop=setting.early_stop,
                                    seed=seed, **options)  # fmt: skip
    results = selector.select_many(["which is right?"] * count, candidates)
    return float(np.mean([r.candidates[r.best_index].endswith(" 0") for r in results])), count


def test_predictions_with_answers_match_the_real_selectors() -> None:
    positional = 2 * BIAS - 1
    accuracy = (1 - ABSTAIN) * (positional * 0.5 + (1 - positional) * MERIT) + ABSTAIN * 0.5
    predicted = plan(n=N, accuracy=accuracy, bias=BIAS, abstain=ABSTAIN, tokens_per_vote=1000, answer_share=SHARE,
                     settings=ANSWER_CHECKED, selections=3000, seed=2)  # fmt: skip
    rows, within, measured = [], 0, []
    for i, p in enumerate(predicted.ranked):
        real, count = run_real_answers(p.setting, seed=200 + i)
        se_real = math.sqrt(max(real * (1 - real), 1 / count) / count)
        measured.append((real, se_real))
        within += abs(p.accuracy - real) <= 3 * math.hypot(p.se, se_real)
        rows.append(f"{p.setting.label:<37} predicted {p.accuracy:.3f}±{p.se:.3f} measured {real:.3f}±{se_real:.3f}")
    print("\n".join(rows))
    assert within >= math.ceil(0.9 * len(ANSWER_CHECKED)), "\n".join(rows)
    (top, se_top), (second, se_second) = measured[:2]
    assert top >= second - 2 * math.hypot(se_top, se_second), "\n".join(rows)


def test_answer_settings_need_answers_and_name_the_key() -> None:
    with pytest.raises(InvalidArgumentError, match="need answer_share"):
        plan(n=N, accuracy=0.8, tokens_per_vote=10, settings=[Setting(method="majority")])
    with pytest.raises(InvalidArgumentError, match="answer share must be in"):
        plan(n=N, accuracy=0.8, tokens_per_vote=10, answer_share=1.5)
    settings = [Setting(method="knockout", votes=3, answer_aware=True), Setting(method="majority")]
    result = plan(n=N, accuracy=0.8, tokens_per_vote=10, answer_share=0.4, selections=100, settings=settings)
    with pytest.raises(InvalidArgumentError, match="not modelled"):
        plan(n=N, accuracy=0.8, tokens_per_vote=10, settings=[Setting(method="elo", votes=3, order="per_match")])
    aware = next(p for p in result.ranked if p.setting.answer_aware)
    assert aware.python() == "KnockoutSelector(judge, votes=3, answer_key=key)" and "--answer SPEC" in aware.flags()
    assert aware.tokens_max <= (N - 1) * 3 * 10 and aware.calls <= aware.calls_max
