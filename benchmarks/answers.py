"""Issue 15, measured: answer-aware selection on a simulated task where candidates carry answers.

    python benchmarks/answers.py            # the full run (a few minutes on 2 cores)
    python benchmarks/answers.py --quick    # a smoke run (seconds), written to a temp folder
    python benchmarks/answers.py --rewrite  # answers.md and answers.svg again from answers.json

The task: each selection has N candidates, ``"solution j: answer A"``; A is the right answer with
probability r, else one of three wrong answers drawn with weights 0.5 : 0.3 : 0.2 (sampled math
solutions mostly share one common mistake), all drawn per selection from a seeded numpy Generator.
The judge is `ScriptedJudge` (in process, no HTTP): between a right and a wrong candidate it
prefers the right one with probability p, between two right or two wrong ones it flips a coin.
The answer key reads the last word of a candidate.

Methods, on the same fields and brackets (the selector's seed is the selection's index):

- majority: the most frequent answer (no judge; ties broken at random),
- plain: `KnockoutSelector` without an answer key (N - 1 judge calls),
- aware: `KnockoutSelector(answer_key=...)`: no call between two candidates of one answer, and the
  selection ends once one answer is left,
- prior=W: the answer-aware knockout with ``answer_prior=W`` (W times the log ratio of the two
  answers' candidate counts added to the vote margin), for each W in the plan. "combination" is
  the one weight (the same in every cell) with the best mean accuracy in the Monte-Carlo model,
  chosen there so that the choice does not ride on this run's luck.

Metrics: the share of selections whose final answer is right (± one binomial standard error) and
judge calls per selection (`Selection.usage.requests`). The script asserts, per selection, that
no answer-aware knockout makes more judge calls than the plain one. Next to each figure, in
brackets: the independent Monte-Carlo model (benchmarks/montecarlo.py, `answer_knockout_accuracy`).

Writes benchmarks/results/answers.json (every figure), answers.md (the table, also printed) and
answers.svg (accuracy against r, one panel per N and p).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import textwrap
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import montecarlo
import suite_report
from thinking import _marker

from rrm_select import KnockoutSelector, ScriptedJudge, Selection

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Plan:
    """What one run measures and how hard it tries."""

    ns: tuple[int, ...] = (8, 32)
    ps: tuple[float, ...] = (0.6, 0.7, 0.8)
    """The judge's accuracy between a right and a wrong candidate."""
    rs: tuple[float, ...] = (0.3, 0.5, 0.7)
    """The share of candidates with the right answer."""
    wrong_weights: tuple[float, ...] = (0.5, 0.3, 0.2)
    priors: tuple[float, ...] = (0.5, 1.0, 2.0)
    selections: int = 400
    mc_trials: int = 40_000
    seed: int = 15


QUICK = Plan(ps=(0.6, 0.8), rs=(0.3, 0.7), selections=20, mc_trials=4000)


def last_word(text: str) -> str | None:
    """The answer key: a candidate's last word (``"solution 5: answer 42"`` -> ``"42"``)."""
    return text.rsplit(" ", 1)[-1] or None


def fields(n: int, r: float, plan: Plan) -> Field:
    """`plan.selections` fields of `n` candidates at right-answer share `r` (the same at every p):
    queries, candidate texts, the right answers."""
    rng = np.random.default_rng([plan.seed, n, round(100 * r)])
    weights = np.asarray(plan.wrong_weights)
    probs = np.concatenate([[r], (1 - r) * weights / weights.sum()])
    queries, texts, truth = [], [], []
    for i in range(plan.selections):
        values = [str(v) for v in rng.choice(np.arange(10, 100), size=len(probs), replace=False)]  # values[0]: right
        groups = rng.choice(len(probs), size=n, p=probs)
        queries.append(f"problem {i}")
        texts.append([f"solution {j}: answer {values[g]}" for j, g in enumerate(groups)])
        truth.append(values[0])
    return queries, texts, truth


def judge_for(truth: dict[str, str], p: float, seed: int) -> ScriptedJudge:
    """A judge that prefers the right answer with probability p and flips a coin between two
    candidates of the same correctness (a hash of the pair: deterministic, fair over pairs)."""

    def prefer(query: str, first: str, second: str) -> int:
        right = truth[query]
        a, b = last_word(first) == right, last_word(second) == right
        if a != b:
            return 1 if a else 2
        return 1 + (zlib.crc32(f"{query}\n{first}\n{second}".encode()) & 1)

    return ScriptedJudge(prefer, accuracy=p, seed=seed)


def majority(texts: list[str], rng: np.random.Generator) -> str:
    """The most frequent answer, a random one among equals."""
    counts: dict[str, int] = {}
    for text in texts:
        answer = last_word(text)
        assert answer is not None
        counts[answer] = counts.get(answer, 0) + 1
    top = max(counts.values())
    tied = sorted(a for a, c in counts.items() if c == top)
    return tied[int(rng.integers(len(tied)))]


def methods(plan: Plan) -> list[str]:
    return ["majority", "plain", "aware", *(f"prior={w:g}" for w in plan.priors)]


def selector(method: str, judge: ScriptedJudge) -> KnockoutSelector:
    if method == "plain":
        return KnockoutSelector(judge)
    if method == "aware":
        return KnockoutSelector(judge, answer_key=last_word)
    return KnockoutSelector(judge, answer_key=last_word, answer_prior=float(method.split("=")[1]))


Field = tuple[list[str], list[list[str]], list[str]]
"""Queries, candidate texts, the right answers (see `fields`)."""


def run_cell(n: int, p: float, r: float, plan: Plan, field: Field) -> dict[str, Any]:
    """Every method over the same fields; per selection, whether its final answer is right."""
    queries, texts, truth = field
    truths = dict(zip(queries, truth, strict=True))
    right: dict[str, list[int]] = {}
    calls: dict[str, list[int]] = {}
    wall: dict[str, float] = {}
    for method in methods(plan):
        start = time.perf_counter()
        if method == "majority":
            rng = np.random.default_rng([plan.seed, n, round(100 * r), 1])
            right[method] = [int(majority(t, rng) == a) for t, a in zip(texts, truth, strict=True)]
            calls[method] = [0] * len(texts)
        else:
            choose = selector(method, judge_for(truths, p, plan.seed))
            pairs = enumerate(zip(queries, texts, strict=True))
            results: list[Selection] = [choose.select(q, t, seed=i) for i, (q, t) in pairs]
            right[method] = [int(last_word(s.best) == a) for s, a in zip(results, truth, strict=True)]
            calls[method] = [s.usage.requests for s in results]
        wall[method] = time.perf_counter() - start
    for method in methods(plan)[2:]:  # the answer-aware knockouts, against the plain one, selection by selection
        for i, (aware, plain) in enumerate(zip(calls[method], calls["plain"], strict=True)):
            where = f"N={n} p={p} r={r} selection {i}"
            assert aware <= plain == n - 1, f"{where}: {method} made {aware} judge calls, the plain knockout {plain}"
    count = len(texts)
    oracle = statistics.fmean(any(last_word(x) == a for x in t) for t, a in zip(texts, truth, strict=True))
    row: dict[str, Any] = {"n": n, "p": p, "r": r, "selections": count, "oracle": oracle, "methods": {}, "wall_s": wall}
    for method in methods(plan):
        acc = statistics.fmean(right[method])
        row["methods"][method] = {
            "accuracy": acc,
            "stderr": math.sqrt(acc * (1 - acc) / count),
            "calls": statistics.fmean(calls[method]),
            "max_calls": max(calls[method]),
        }
    row["right"] = {m: "".join(map(str, v)) for m, v in right.items()}  # per selection, for paired differences
    rng = np.random.default_rng([plan.seed, n, round(100 * p), round(100 * r), 2])
    row["model"] = montecarlo.answer_knockout_accuracy(n, p, r, plan.wrong_weights, plan.mc_trials, rng, plan.priors)
    return row


def paired(row: dict[str, Any], a: str, b: str) -> tuple[float, float]:
    """Accuracy of `a` minus that of `b` on the same selections, and its standard error."""
    d = [int(x) - int(y) for x, y in zip(row["right"][a], row["right"][b], strict=True)]
    return statistics.fmean(d), statistics.pstdev(d) / math.sqrt(len(d))


def choose_prior(report: dict[str, Any]) -> dict[str, Any]:
    """The one weight for every cell: the best mean accuracy over the cells in the model."""
    weights = report["meta"]["plan"]["priors"]
    cells = report["cells"]
    model = {f"{w:g}": statistics.fmean(c["model"][f"prior={w:g}"] for c in cells) for w in weights}
    measured = {f"{w:g}": statistics.fmean(c["methods"][f"prior={w:g}"]["accuracy"] for c in cells) for w in weights}
    best = max(weights, key=lambda w: model[f"{w:g}"])
    return {"weight": best, "method": f"prior={best:g}", "model_mean": model, "measured_mean": measured}


# -- the report ----------------------------------------------------------------------------------


def _acc(row: dict[str, Any], method: str) -> str:
    m = row["methods"][method]
    return f"{m['accuracy']:.3f} ± {m['stderr']:.3f} ({row['model'][method]:.3f})"


def _model_calls(row: dict[str, Any], method: str) -> float:
    if method == "plain":
        return float(row["n"] - 1)
    return row["model"]["aware_calls" if method == "aware" else f"{method} calls"]


def _points(d: tuple[float, float]) -> str:
    return f"{100 * d[0]:+.1f} ± {100 * d[1]:.1f}"


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The comparisons the text states, from the cells."""
    combo = report["combination"]["method"]
    cells = report["cells"]
    beats, aware_loses = [], []
    for c in cells:
        vs_major, vs_plain = paired(c, combo, "majority"), paired(c, combo, "plain")
        if vs_major[0] > 2 * vs_major[1] and vs_plain[0] > 2 * vs_plain[1]:
            beats.append((c, vs_major, vs_plain))
        d = paired(c, "aware", "plain")
        if d[0] < 0:
            aware_loses.append((c, d))
    aware_gain = [paired(c, "aware", "plain")[0] for c in cells]
    savings = [1 - c["methods"]["aware"]["calls"] / c["methods"]["plain"]["calls"] for c in cells]
    model_ok = all(c["model"]["aware"] >= c["model"]["plain"] - 0.005 for c in cells)
    return {
        "beats": beats,
        "aware_loses": aware_loses,
        "aware_gain": aware_gain,
        "savings": savings,
        "model_ok": model_ok,
    }


def tables(report: dict[str, Any]) -> str:
    meta, plan = report["meta"], report["meta"]["plan"]
    choice = report["combination"]
    combo = choice["method"]
    weights = plan["priors"]
    cells = report["cells"]
    within = sum(
        abs(c["methods"][m]["accuracy"] - c["model"][m]) <= 2 * max(c["methods"][m]["stderr"], 0.005)
        for c in cells
        for m in methods(Plan(priors=tuple(weights)))
    )
    total = len(cells) * len(methods(Plan(priors=tuple(weights))))
    aware = methods(Plan(priors=tuple(weights)))[2:]
    calls_ok = all(c["methods"][m]["max_calls"] <= c["n"] - 1 for c in cells for m in aware)
    parts = [
        f"`{meta['command']}`: {meta['runtime_s']:.0f} s on {meta['cpus']} cores. A simulated task: each of "
        f"N candidates gives the right answer with probability r, else one of {len(plan['wrong_weights'])} wrong "
        f"answers with weights {' : '.join(f'{w:g}' for w in plan['wrong_weights'])}; the judge (`ScriptedJudge`, one "
        "vote per match, random order) prefers a right answer to a wrong one with probability p and flips a coin "
        "between two of the same correctness. "
        f"{plan['selections']} selections per cell, the same fields and brackets for every method. Accuracy: the "
        "share of selections whose final answer is right, ± one standard error, in brackets the Monte-Carlo model "
        f"(`benchmarks/montecarlo.py`, `answer_knockout_accuracy`, {plan['mc_trials']} trials); {within} of {total} "
        "measured figures are within two standard errors of it. Methods: majority = the most frequent answer (no "
        "judge, ties at random); plain = `KnockoutSelector` without an answer key (N - 1 calls); aware = with "
        "`answer_key` (no call between two of one answer, done once one answer is left); combination = aware with "
        f"`answer_prior={choice['weight']:g}` in every cell. Calls: judge calls per selection (`usage.requests`), in "
        "brackets the model's. `any right`: the share of fields with a right candidate at all (the ceiling). "
        "Last column: the combination's accuracy minus the better of majority and plain in that cell, in points, "
        "paired over the same selections (± its standard error).",
    ]
    header = ["N", "p", "r", "any right", "majority", "plain knockout", "aware knockout",
              f"combination (prior {choice['weight']:g})", "calls plain / aware / combination",
              "combination − best of majority, plain"]  # fmt: skip
    rows = []
    for c in cells:
        best_other = max(("majority", "plain"), key=lambda m: c["methods"][m]["accuracy"])
        rows.append([
            c["n"], f"{c['p']:g}", f"{c['r']:g}", f"{c['oracle']:.3f}",
            _acc(c, "majority"), _acc(c, "plain"), _acc(c, "aware"), _acc(c, combo),
            " / ".join(f"{c['methods'][m]['calls']:.1f}" for m in ("plain", "aware", combo))
            + f" ({_model_calls(c, 'aware'):.1f}, {_model_calls(c, combo):.1f})",
            f"{_points(paired(c, combo, best_other))} vs {best_other}",
        ])  # fmt: skip
    parts.append(suite_report._table(header, rows))
    parts.append(
        "The weight: mean accuracy over the cells by `answer_prior`, the model (measured): "
        + ", ".join(f"{w:g}: {choice['model_mean'][f'{w:g}']:.3f} ({choice['measured_mean'][f'{w:g}']:.3f})"
                    for w in weights)  # fmt: skip
        + f"; aware without a prior: {statistics.fmean(c['model']['aware'] for c in cells):.3f} "
        f"({statistics.fmean(c['methods']['aware']['accuracy'] for c in cells):.3f}). Every weight's figures per cell "
        "are in answers.json."
    )
    s = summary(report)
    parts.append(
        f"**Calls.** No answer-aware knockout made more judge calls than the plain one in any selection (asserted "
        f"per selection{'' if calls_ok else '; VIOLATED'}): the answer-aware knockout saves "
        f"{100 * min(s['savings']):.0f}-{100 * max(s['savings']):.0f}% of the plain knockout's calls (the most where r "
        "is high: the bracket stops once only the right answer is left), and changes accuracy by "
        f"{100 * min(s['aware_gain']):+.1f} to {100 * max(s['aware_gain']):+.1f} points against the plain knockout "
        f"(paired; {len(s['aware_loses'])} cells below zero, the lowest "
        f"{_points(min((d for _, d in s['aware_loses']), default=(0.0, 0.0)))}, "
        + ("within noise" if all(d[0] >= -2 * d[1] for _, d in s["aware_loses"]) else "SOME BEYOND TWO STANDARD ERRORS")
        + (": the model has the answer-aware knockout at or above the plain one in every cell" if s["model_ok"] else
           "; the model has it below the plain one somewhere")
        + "). It gains "
        "because right candidates never knock each other out: in the plain knockout two right candidates that meet "
        "cost the right answer a candidate for nothing, in the answer-aware one every right candidate that goes out "
        "lost a contest it was favoured in; the gain is largest at N=32 with a weak judge (many rounds, many "
        "right-against-right meetings avoided). `answer_prior=0.5` cannot override a vote at N=8 (it needs a count "
        "ratio above e^2 = 7.4, at most 7 : 1 there), so there it is the answer-aware knockout. The cells at the "
        "three p of one (N, r) share their fields, brackets and the judge's random draws, so their deviations from "
        "the model move together."
    )
    if s["beats"]:
        where = "; ".join(
            f"N={c['n']}, p={c['p']:g}, r={c['r']:g}: {c['methods'][combo]['accuracy']:.3f} against majority "
            f"{c['methods']['majority']['accuracy']:.3f} ({_points(vm)}) and plain "
            f"{c['methods']['plain']['accuracy']:.3f} "
            f"({_points(vp)}; aware without the prior {c['methods']['aware']['accuracy']:.3f})"
            for c, vm, vp in s["beats"]
        )
        parts.append(
            f"**Where the combination beats both** (by more than two standard errors against each): {where}. Where "
            "a wrong answer is the most common one (r=0.3 against 0.35 for the commonest mistake), majority vote "
            "fails and the gain over both is the answer-aware knockout's. The prior against the answer-aware "
            "knockout alone, in these cells: "
            + ", ".join(
                f"{_points(paired(c, combo, 'aware'))} (model {100 * (c['model'][combo] - c['model']['aware']):+.1f})"
                for c, _, _ in s["beats"]
            )
            + " points"
            + ("; within two standard errors in every one, so there the win over both is the answer key's"
               if all(abs(d[0]) <= 2 * d[1] for d in (paired(c, combo, "aware") for c, _, _ in s["beats"])) else "")
            + ". The prior's own gains are largest where majority vote is better still (N=32, p=0.6: r=0.5 and 0.7)."
            + ("" if any(c["n"] == min(x["n"] for x in cells) for c, _, _ in s["beats"]) else
               f" No cell at N={min(x['n'] for x in cells)} clears two standard errors against both.")
        )
    else:
        parts.append("**The combination beats majority vote and the plain knockout together in no cell** (by more than "
                     "two standard errors against each).")  # fmt: skip
    parts.append(report.get("rule_of_thumb") or rule_of_thumb(report))
    wrapped = (p if p.startswith("|") or "\n" in p else textwrap.fill(p, 100, break_on_hyphens=False) for p in parts)
    return "\n\n".join(wrapped) + "\n"


def rule_of_thumb(report: dict[str, Any]) -> str:
    """The rule of thumb the full run supports, with this run's figures (cells it lacks: left out)."""
    cells = {(c["n"], c["p"], c["r"]): c for c in report["cells"]}
    combo = report["combination"]["method"]
    weight = report["combination"]["weight"]
    s = summary(report)

    def acc(n: int, p: float, r: float, method: str) -> str:
        return f"{cells[(n, p, r)]['methods'][method]['accuracy']:.3f}"

    text = (
        "**Rule of thumb.** Give a knockout the answer key whenever answers can be compared: it never makes more "
        f"judge calls (here {100 * min(s['savings']):.0f}-{100 * max(s['savings']):.0f}% fewer, the most when "
        "candidates agree) and "
        + ("was nowhere measurably less accurate than the plain knockout. "
           if all(d[0] >= -2 * d[1] for _, d in s["aware_loses"]) else "was sometimes less accurate (see above). ")
    )
    if all(k in cells for k in ((32, 0.7, 0.5), (8, 0.8, 0.3), (32, 0.6, 0.5))):
        good = [c for c in cells.values() if c["p"] >= 0.7 and c["r"] >= 0.5]
        worst = min(paired(c, combo, max(("majority", "plain"), key=lambda m: c["methods"][m]["accuracy"]))[0]
                    for c in good)  # fmt: skip
        versus = (
            f"never below the better of majority vote and the plain knockout there (the closest: {100 * worst:+.1f} "
            "points)"
            if worst >= 0
            else f"at most {-100 * worst:.1f} points below the better of majority and plain there"
        )
        text += (
            f"With a decent judge (p >= 0.7) and a right answer that is usually the most common one (r >= 0.5), add "
            f"`answer_prior={weight:g}`: {versus}, e.g. N=32, p=0.7, r=0.5: {acc(32, 0.7, 0.5, combo)} against "
            f"majority {acc(32, 0.7, 0.5, 'majority')} and plain {acc(32, 0.7, 0.5, 'plain')}; leave it off when a "
            f"wrong answer may be the most common one (N=8, p=0.8, r=0.3: {acc(8, 0.8, 0.3, combo)} with it, "
            f"{acc(8, 0.8, 0.3, 'aware')} without). With a weak judge (p=0.6) and a right answer that is the most "
            f"common one, majority vote alone is best, and free (N=32, p=0.6, r=0.5: {acc(32, 0.6, 0.5, 'majority')}, "
            f"combination {acc(32, 0.6, 0.5, combo)}, plain {acc(32, 0.6, 0.5, 'plain')})."
        )
    return text


# -- the plot ------------------------------------------------------------------------------------

FLOOR = 0.2  # the plots' lowest accuracy (every figure here is above it)
SERIES = {  # method key (or "combination") -> label, colour, marker
    "majority": ("majority vote (no judge)", "#7f7f7f", "square"),
    "plain": ("plain knockout", "#1f77b4", "circle"),
    "aware": ("answer-aware knockout", "#ff7f0e", "triangle"),
    "combination": ("aware + answer_prior", "#d62728", "diamond"),
}


def svg_plot(report: dict[str, Any], path: Path) -> None:
    """Accuracy against r, one panel per (N, p): a row per N, a column per p."""
    cells = report["cells"]
    combo = report["combination"]["method"]
    ns = sorted({c["n"] for c in cells})
    ps = sorted({c["p"] for c in cells})
    rs = sorted({c["r"] for c in cells})
    width, height, left, top, pw, ph = 300, 260, 60, 40, 220, 180
    total_w, total_h = width * len(ps) + 20, height * len(ns) + 90
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
        f'viewBox="0 0 {total_w} {total_h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{total_w}" height="{total_h}" fill="white"/>',
    ]
    lo_r, hi_r = rs[0] - 0.05, rs[-1] + 0.05
    for row, n in enumerate(ns):
        for col, p in enumerate(ps):
            x0, y0 = col * width + left, row * height + top
            panel = {c["r"]: c for c in cells if c["n"] == n and c["p"] == p}

            def sx(r: float, x0: float = x0) -> float:
                return x0 + (r - lo_r) / (hi_r - lo_r) * pw

            def sy(a: float, y0: float = y0) -> float:
                return y0 + (1 - (a - FLOOR) / (1 - FLOOR)) * ph

            out.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
            title = f"N={n}, p={p:g}"
            out.append(f'<text x="{x0 + pw / 2}" y="{y0 - 10}" text-anchor="middle" font-size="13">{title}</text>')
            for i in range(round((1 - FLOOR) * 10) + 1):
                a = FLOOR + i / 10
                out.append(f'<line x1="{x0}" y1="{sy(a):.1f}" x2="{x0 + pw}" y2="{sy(a):.1f}" stroke="#e4e4e4"/>')
                if col == 0:
                    out.append(f'<text x="{x0 - 6}" y="{sy(a) + 4:.1f}" text-anchor="end">{a:.1f}</text>')
            for r in rs:
                out.append(f'<text x="{sx(r):.1f}" y="{y0 + ph + 15}" text-anchor="middle">{r:g}</text>')
            if row == len(ns) - 1:
                out.append(f'<text x="{x0 + pw / 2}" y="{y0 + ph + 32}" text-anchor="middle">'
                           "r (share of right candidates)</text>")  # fmt: skip
            if col == 0:
                out.append(f'<text transform="translate({x0 - 40},{y0 + ph / 2}) rotate(-90)" text-anchor="middle">'
                           "P(final answer right)</text>")  # fmt: skip
            oracle = " ".join(f"{sx(r):.1f},{sy(panel[r]['oracle']):.1f}" for r in rs if r in panel)
            dotted = 'fill="none" stroke="#000" stroke-width="1" stroke-dasharray="2,3"'
            out.append(f'<polyline points="{oracle}" {dotted}/>')
            for key, (_, color, kind) in SERIES.items():
                method = combo if key == "combination" else key
                pts = [(r, panel[r]["methods"][method], panel[r]["model"][method]) for r in rs if r in panel]
                line = " ".join(f"{sx(r):.1f},{sy(m['accuracy']):.1f}" for r, m, _ in pts)
                out.append(f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="1.5"/>')
                for r, m, model in pts:
                    x = sx(r)
                    out.append(f'<line x1="{x:.1f}" y1="{sy(m["accuracy"] - m["stderr"]):.1f}" x2="{x:.1f}" '
                               f'y2="{sy(m["accuracy"] + m["stderr"]):.1f}" stroke="{color}"/>')  # fmt: skip
                    out.append(_marker(kind, x, sy(m["accuracy"]), color))
                    out.append(_marker(kind, x + 7, sy(model), color, hollow=True, r=3.0))
    y = height * len(ns) + 30
    for i, (key, (label, color, kind)) in enumerate(SERIES.items()):
        x = left + i * 215
        name = f"{label} ({report['combination']['weight']:g})" if key == "combination" else label
        out.append(_marker(kind, x, y, color))
        out.append(f'<text x="{x + 10}" y="{y + 4}">{name}</text>')
    out.append(f'<text x="{left}" y="{y + 28}">Filled: measured (± one standard error); hollow, just right of it: the '
               "Monte-Carlo model. Dotted: share of fields with any right candidate.</text>")  # fmt: skip
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def write(report: dict[str, Any], out: Path) -> str:
    return suite_report.write(report, out, name="answers", render=tables, draw=svg_plot, image="svg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run into a temporary folder")
    parser.add_argument("--rewrite", action="store_true", help="answers.md and answers.svg again from answers.json")
    args = parser.parse_args()
    if args.rewrite:
        report = json.loads((RESULTS / "answers.json").read_text())
        report.pop("rule_of_thumb", None)
        print(write(report, RESULTS))
        return
    plan = QUICK if args.quick else Plan()
    out = Path(tempfile.mkdtemp(prefix="answers-")) if args.quick else RESULTS
    command = "python benchmarks/answers.py" + (" --quick" if args.quick else "")
    start = time.perf_counter()
    report: dict[str, Any] = {"cells": []}
    for n in plan.ns:
        for r in plan.rs:
            field = fields(n, r, plan)
            for p in plan.ps:
                row = run_cell(n, p, r, plan, field)
                report["cells"].append(row)
                figures = "  ".join(f"{m} {v['accuracy']:.3f}/{v['calls']:.1f}" for m, v in row["methods"].items())
                print(f"N={n:2} p={p:g} r={r:g}  {figures}  {sum(row['wall_s'].values()):5.1f} s", flush=True)
    report["cells"].sort(key=lambda c: (c["n"], c["p"], c["r"]))
    report["meta"] = {
        "command": command,
        "runtime_s": time.perf_counter() - start,
        "cpus": os.cpu_count(),
        "plan": asdict(plan),
    }
    report["combination"] = choose_prior(report)
    markdown = write(report, out)
    print(markdown)
    print(f"results in {out}")


if __name__ == "__main__":
    main()
