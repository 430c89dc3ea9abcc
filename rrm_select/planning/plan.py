"""From a judge's measured figures to a ranked list of selector settings (`plan`).

Each setting's selection accuracy (the share of simulated selections that pick the true best) is
predicted by `rrm_select.planning.model`; its cost comes from the selectors themselves where
they know it: `Selector.planned_matches` for the matches and `match_cost` for the most requests
and votes a match can take (the worst case a cost limit is checked against), the simulation for
the expected requests, votes and waves (early stop makes them depend on how votes fall).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from rrm_select import InvalidArgumentError, ScriptedJudge, match_cost
from rrm_select.planning.answers import AnswerModel, run_with_answers
from rrm_select.planning.judge import JudgeFigures, figures_of_report, judge_figures
from rrm_select.planning.grid import CLASSES, answer_settings, build, default_settings
from rrm_select.planning.model import Setting, Simulation



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
    """Expected judge tokens (votes x tokens per vote)."""
    tokens_max: float
    """The most judge tokens a selection can spend (what a cost limit is checked against)."""
    waves: float
    """Expected waves of votes along the tournament's rounds."""
    latency_s: float | None
    """Expected judging time (waves x latency per vote); None without a latency per vote."""

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
        return f"{CLASSES[s.method].__name__}({', '.join(['judge', *options])})"

    def flags(self) -> str:
        """The selector as ``rrm-select filter``/``select`` flags."""
        s = self.setting
        if s.method == "majority":
            return "(no judge: the most frequent answer)"
        flags = [f"--method {s.method}"] + ([f"--finalists {s.finalists}"] if s.finalists != 1 else [])
        return " ".join([*flags, f"--votes {s.votes}", f"--order {s.order}", f"--early-stop {s.early_stop}"]
                        + (["--answer SPEC"] if s.answer_aware else []))


class Plan(BaseModel):
    """The settings ranked for a judge and N (see `plan`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int
    judge: JudgeFigures
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
        head = (f"{'rank':>4} {'setting':<37} {'accuracy':>15} {'calls':>6} {'tokens':>9} {'tokens max':>10} "
                f"{'waves':>5} {'latency s':>9}")  # fmt: skip
        lines = [head, *(_row(str(i), p) for i, p in enumerate(self.ranked, 1))]
        if self.over_limit:
            lines += ["", f"over the limit of {self.max_tokens_per_prompt:,.0f} judge tokens per selection:"]
            lines += [_row("-", p) for p in self.over_limit]
        j = self.judge
        lines += ["", f"best of {self.n}; judge accuracy {j.accuracy:.3f}, bias {j.bias:.2f}, abstain {j.abstain:.2f}, "
                  f"{j.tokens_per_vote:,.0f} tokens per vote; {self.selections} simulated selections "
                  f"(seed {self.seed})"]
        lines += list(self.notes)
        top = self.recommended
        if top is not None:
            lines += ["", f"recommended: {top.setting.label} ({top.accuracy:.1%} ± {top.se:.1%})",
                      f"  python: {top.python()}", f"  cli:    {top.flags()}"]  # fmt: skip
        return "\n".join(lines)


def _row(rank: str, p: Prediction) -> str:
    latency = "-" if p.latency_s is None else f"{p.latency_s:.1f}"
    accuracy = f"{p.accuracy:.3f} ± {p.se:.3f}"
    return (f"{rank:>4} {p.setting.label:<37} {accuracy:>15} {p.calls:>6.1f} {p.tokens:>9,.0f} {p.tokens_max:>10,.0f}"
            f" {p.waves:>5.1f} {latency:>9}")  # fmt: skip


def plan(
    report: Any = None,
    *,
    n: int,
    accuracy: float | None = None,
    bias: float | None = None,
    tokens_per_vote: float | None = None,
    abstain: float | None = None,
    latency_per_vote: float | None = None,
    max_tokens_per_prompt: float | None = None,
    target: float | None = None,
    settings: Iterable[Setting] | None = None,
    selections: int = 2000,
    seed: int = 0,
    ceiling: float = 1.0,
    answer_share: float | None = None,
    wrong_answers: tuple[float, ...] = (0.5, 0.3, 0.2),
) -> Plan:
    """Rank selector settings for picking the best of `n` with a judge.

    The judge is a calibration `report` (`rrm_select.calibrate`'s result, its JSON or a path;
    figures given by hand override its own) or, by hand, `accuracy`, `bias` and
    `tokens_per_vote` (`abstain` and `latency_per_vote` optional). Settings whose worst case
    spends more than `max_tokens_per_prompt` judge tokens are left out of the ranking. The
    ranking is by predicted accuracy (ties by worst-case tokens); with a `target` accuracy, the
    settings predicted to reach it come first, cheapest first. `selections` simulated
    selections per setting (the standard error shrinks as its square root).

    With `answer_share` (the share of candidates giving the right answer; the wrong ones split
    as `wrong_answers`), a selection is right when its answer is, and majority voting and the
    answer-aware knockout are ranked too (see `rrm_select.planning.answers`).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise InvalidArgumentError(f"n must be an integer >= 2 (candidates per selection), got {n!r}")
    if isinstance(selections, bool) or not isinstance(selections, int) or selections < 10:
        raise InvalidArgumentError(f"selections must be an integer >= 10, got {selections!r}")
    if target is not None and not 0 < target < 1:
        raise InvalidArgumentError(f"target must be an accuracy in (0, 1), got {target!r}")
    if max_tokens_per_prompt is not None and not max_tokens_per_prompt > 0:
        raise InvalidArgumentError(f"max_tokens_per_prompt must be > 0, got {max_tokens_per_prompt!r}")
    given = {"accuracy": accuracy, "bias": bias, "abstain": abstain, "tokens_per_vote": tokens_per_vote,
             "latency_per_vote": latency_per_vote}  # fmt: skip
    figures = figures_of_report(report) if report is not None else {}
    figures.update({k: v for k, v in given.items() if v is not None})
    for needed in ("accuracy", "tokens_per_vote"):
        if figures.get(needed) is None:
            raise InvalidArgumentError(f"{needed} is needed: give a calibration report or {needed}=")
    judge = judge_figures(figures["accuracy"], figures["tokens_per_vote"],  # type: ignore[arg-type]
                          bias=_or(figures.get("bias"), 0.5), abstain=_or(figures.get("abstain"), 0.0),
                          latency_per_vote=figures.get("latency_per_vote"), ceiling=ceiling)  # fmt: skip
    answers = None if answer_share is None else AnswerModel.checked(answer_share, tuple(wrong_answers))
    labels = None if answers is None else answers.draw(np.random.default_rng([seed, 2]), (selections, n))
    simulation = Simulation(judge, n, selections, seed, labels)
    chosen = list(settings) if settings is not None else default_settings(n) + (answer_settings() if answers else [])
    if answers is None and any(s.method == "majority" or s.answer_aware for s in chosen):
        raise InvalidArgumentError("majority voting and answer-aware settings need answer_share=")
    unmodelled = [s for s in chosen if s.order == "per_match" or s.early_stop == "confident"]
    if unmodelled:
        raise InvalidArgumentError(f"order per_match and early_stop confident are not modelled ({unmodelled[0].label})")
    if any(s.answer_aware and (s.method != "knockout" or s.finalists != 1) for s in chosen):
        raise InvalidArgumentError("answer-aware settings are planned for the knockout with one finalist only")
    if not chosen:
        raise InvalidArgumentError("no settings to plan")
    predictions = [_predict(simulation, s) for s in chosen]
    fits = [p for p in predictions if max_tokens_per_prompt is None or p.tokens_max <= max_tokens_per_prompt]
    over = sorted((p for p in predictions if p not in fits), key=lambda p: (-p.accuracy, p.tokens_max))
    fits.sort(key=lambda p: (-p.accuracy, p.tokens_max, p.tokens, p.calls))
    notes = list(judge.notes)
    if target is not None:
        reach = sorted((p for p in fits if p.accuracy >= target), key=lambda p: (p.tokens_max, -p.accuracy))
        fits = reach + [p for p in fits if p not in reach]
        if not reach:
            notes.append(f"no setting within the limit is predicted to reach the target {target:.1%}")
    if not fits:
        notes.append("no setting fits the token limit")
    return Plan(n=n, judge=judge, max_tokens_per_prompt=max_tokens_per_prompt, target=target, selections=selections,
                seed=seed, answers=answers, ranked=tuple(fits), over_limit=tuple(over), notes=tuple(notes))  # fmt: skip


def _predict(simulation: Simulation, setting: Setting) -> Prediction:
    aware = setting.method == "majority" or setting.answer_aware
    outcome = run_with_answers(simulation, setting) if aware else simulation.run(setting)
    accuracy = float(outcome.correct.mean())
    judge = simulation.judge
    if setting.method == "majority":
        matches = 0
    elif setting.answer_aware:  # the most over the simulated answer draws
        selector = build(setting, ScriptedJudge(lambda query, first, second: 1))
        rows = {tuple(str(a) for a in row) for row in simulation.labels.tolist()}  # type: ignore[union-attr]
        matches = max(selector.planned_matches(simulation.n, list(row)) for row in rows)
    else:
        matches = build(setting, ScriptedJudge(lambda query, first, second: 1)).planned_matches(simulation.n)
    cost = match_cost(setting.order, setting.votes, setting.early_stop)
    waves = float(outcome.waves.mean())
    return Prediction(
        setting=setting,
        accuracy=accuracy,
        se=math.sqrt(max(accuracy * (1 - accuracy), 1 / simulation.selections) / simulation.selections),
        matches=matches,
        calls=float(outcome.requests.mean()),
        calls_max=matches * cost.most_requests,
        votes=float(outcome.votes.mean()),
        tokens=float(outcome.votes.mean()) * judge.tokens_per_vote,
        tokens_max=matches * cost.most_votes * judge.tokens_per_vote,
        waves=waves,
        latency_s=None if judge.latency_per_vote is None else waves * judge.latency_per_vote,
    )


def _or(value: float | None, default: float) -> float:
    return default if value is None else value
