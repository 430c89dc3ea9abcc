"""From a judge's measured figures to a ranked list of selector settings (`plan`).

Each setting's selection accuracy (the share of simulated selections that pick the true best) is
predicted by `rrm_select.planning.model`; its cost comes from the selectors themselves where
they know it: `Selector.planned_matches` for the matches and `match_cost` for the most requests
and votes a match can take (the worst case a cost limit is checked against), the simulation for
the expected requests, votes, tokens and waves (early stop and escalation make them depend on
how votes fall).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from rrm_select import InvalidArgumentError, ScriptedJudge, match_cost
from rrm_select.planning.answers import AnswerModel, run_with_answers
from rrm_select.planning.budgets import budget_settings, calibrated_judges, reports_of
from rrm_select.planning.grid import answer_settings, build, default_settings
from rrm_select.planning.model import Simulation
from rrm_select.planning.result import Plan, Prediction
from rrm_select.planning.setting import Setting
from rrm_select.planning.votes import slots_per_vote, wave_table


def plan(
    report: Any | Sequence[Any] = None,
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
    `tokens_per_vote` (`abstain` and `latency_per_vote` optional). `report` may also be a list
    of reports of one judge calibrated at different thinking budgets (see
    `rrm_select.planning.budgets.calibrated_judges`): each setting is then planned at each
    budget (its votes following that report's figures and costs), and those with votes >= 3
    also escalating over the calibrated budgets (the selectors' `thinking_budgets`). Settings whose worst case
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
    judges, notes = calibrated_judges(reports_of(report), given, ceiling)
    answers = None if answer_share is None else AnswerModel.checked(answer_share, tuple(wrong_answers))
    labels = None if answers is None else answers.draw(np.random.default_rng([seed, 2]), (selections, n))
    simulation = Simulation(judges, n, selections, seed, labels)
    base = default_settings(n) + (answer_settings() if answers else [])
    chosen = list(settings) if settings is not None else budget_settings(base, judges)
    if answers is None and any(s.method == "majority" or s.answer_aware for s in chosen):
        raise InvalidArgumentError("majority voting and answer-aware settings need answer_share=")
    unmodelled = [s for s in chosen if s.order == "per_match" or s.early_stop == "confident"]
    if unmodelled:
        raise InvalidArgumentError(f"order per_match and early_stop confident are not modelled ({unmodelled[0].label})")
    if any(s.answer_aware and (s.method != "knockout" or s.finalists != 1) for s in chosen):
        raise InvalidArgumentError("answer-aware settings are planned for the knockout with one finalist only")
    if not chosen:
        raise InvalidArgumentError("no settings to plan")
    for setting in chosen:
        simulation.levels(setting)  # every budget a setting names was calibrated
    predictions = [_predict(simulation, s) for s in chosen]
    fits = [p for p in predictions if max_tokens_per_prompt is None or p.tokens_max <= max_tokens_per_prompt]
    over = sorted((p for p in predictions if p not in fits), key=lambda p: (-p.accuracy, p.tokens_max))
    fits.sort(key=lambda p: (-p.accuracy, p.tokens_max, p.tokens, p.calls))
    notes = [*notes, *(note for j in judges for note in j.notes)]
    if target is not None:
        reach = sorted((p for p in fits if p.accuracy >= target), key=lambda p: (p.tokens_max, -p.accuracy))
        fits = reach + [p for p in fits if p not in reach]
        if not reach:
            notes.append(f"no setting within the limit is predicted to reach the target {target:.1%}")
    if not fits:
        notes.append("no setting fits the token limit")
    return Plan(n=n, judge=judges[0], budgets=tuple(judges) if len(judges) > 1 else (),
                max_tokens_per_prompt=max_tokens_per_prompt, target=target, selections=selections, seed=seed,
                answers=answers, ranked=tuple(fits), over_limit=tuple(over), notes=tuple(notes))  # fmt: skip


def _predict(simulation: Simulation, setting: Setting) -> Prediction:
    aware = setting.method == "majority" or setting.answer_aware
    outcome = run_with_answers(simulation, setting) if aware else simulation.run(setting)
    accuracy = float(outcome.correct.mean())
    if setting.method == "majority":
        matches = 0
    elif setting.answer_aware:  # the most over the simulated answer draws
        selector = build(setting, ScriptedJudge(lambda query, first, second: 1))
        rows = {tuple(str(a) for a in row) for row in simulation.labels.tolist()}  # type: ignore[union-attr]
        matches = max(selector.planned_matches(simulation.n, list(row)) for row in rows)
    else:
        matches = build(setting, ScriptedJudge(lambda query, first, second: 1)).planned_matches(simulation.n)
    escalating = setting.thinking_budgets is not None
    cost = match_cost(setting.order, setting.votes, setting.early_stop, escalating=escalating)
    levels = simulation.levels(setting)
    latencies = [j.latency_per_vote for j in levels]
    return Prediction(
        setting=setting,
        accuracy=accuracy,
        se=math.sqrt(max(accuracy * (1 - accuracy), 1 / simulation.selections) / simulation.selections),
        matches=matches,
        calls=float(outcome.requests.mean()),
        calls_max=matches * cost.most_requests,
        votes=float(outcome.votes.mean()),
        tokens=float(outcome.tokens.mean()),
        tokens_max=matches * _most_tokens(setting, cost.most_votes, [j.tokens_per_vote for j in levels]),
        waves=float(outcome.waves.mean()),
        latency_s=None if None in latencies else float(outcome.latency.mean()),
    )


def _most_tokens(setting: Setting, most_votes: int, tokens_at: list[float]) -> float:
    """The most tokens one match can spend: with escalation, its first wave at the first
    budget and every later vote at up to the last."""
    if len(tokens_at) == 1:
        return most_votes * tokens_at[0]
    per_slot = slots_per_vote(setting)
    first = per_slot * wave_table(setting.votes, per_slot, setting.early_stop, True)[0, 0, 0]
    return first * tokens_at[0] + (most_votes - first) * max(tokens_at)
