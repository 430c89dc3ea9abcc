"""Issue 13, measured: selection accuracy for the judge's tokens with a thinking judge, scaled by
votes (parallel), by thinking budget (sequential), by both, and by escalation.

    python benchmarks/thinking.py            # the full run (about 8 minutes on 2 cores)
    python benchmarks/thinking.py --quick    # a smoke run (under a minute), written to a temp folder
    python benchmarks/thinking.py --rewrite  # the tables, plot and README block again from thinking.json

The judge is the simulated thinking RRM of benchmarks/sim_judge.py (``Profile(thinking=True)``,
in its own process, no latency) behind a real `HTTPJudge`: each vote reasons for a length drawn
for it and is right with a probability that grows with the reasoning tokens it gets (70%, 75%,
80%, 83%, 84% of single votes at budgets 512 to 8192 on random pairs, the RRM-7B curve). Each
selection is a `KnockoutSelector` over N candidates of uniform random quality, right when it
picks the best; its cost is the judge's tokens, prompt and completion (`Selection.usage`).

Sections:

- judge: the single vote's accuracy against the thinking budget (the sim's curve, measured
  through `HTTPJudge` with server forcing, next to the Monte-Carlo model and the paper's figures).
- cells: best of 8 and best of 32 for (a) votes k = 1, 3, 5, 7 at an 8k budget, (b) one vote at
  budgets 1k, 2k, 4k, 8k, (c) the rest of the k x T grid, (d) escalation,
  ``thinking_budgets=(1024, 8192)`` and ``(1024, 4096)`` with 3 and 5 votes and ``early_stop=
  "decided"``, next to the same votes "decided" at one budget. Each with ± one standard error and
  the Monte-Carlo model (benchmarks/montecarlo.py, `thinking_knockout_accuracy`).
- truncation: the share of samples lost (no verdict: cut at max_tokens before answering) at
  max_tokens = 2048 + 256, without a budget and with ``thinking_budget=2048`` forced by the server
  and by the client.

Writes benchmarks/results/thinking.json (every figure), thinking.md (the tables, also printed)
and thinking.svg (accuracy against tokens, one panel per N, drawn by `svg_plot` below), and
rewrites the README's block between the thinking markers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import montecarlo
import suite_report
from sim_judge import Profile, SimJudge, candidate_text

from rrm_select import HTTPJudge, KnockoutSelector, Selection, VoteRequest
from rrm_select.selectors.tournament import SelectorOptions

RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent.parent / "README.md"
MARKERS = ("<!-- thinking:begin -->", "<!-- thinking:end -->")
ESCALATION = "thinking_budgets" in SelectorOptions.__annotations__
"""Whether this rrm_select's selectors escalate (without, the escalation cells are left out)."""
PAPER = {1024: 0.75, 8192: 0.84}  # RRM-7B on RewardBench against its thinking budget (the RRM paper)


@dataclass(frozen=True)
class Plan:
    """What one run measures and how hard it tries."""

    selections: dict[int, int] = field(default_factory=lambda: {8: 400, 32: 120})
    """Selections per cell, by N."""
    ks: tuple[int, ...] = (1, 3, 5, 7)
    budgets: tuple[int, ...] = (1024, 2048, 4096, 8192)
    escalations: tuple[tuple[int, int], ...] = ((1024, 8192), (1024, 4096))
    escalation_ks: tuple[int, ...] = (3, 5)
    truncation_n: int = 8
    truncation_k: int = 3
    truncation_selections: int = 150
    truncation_budget: int = 2048
    truncation_room: int = 256
    judge_pairs: int = 600
    judge_n: int = 8
    judge_budgets: tuple[int | None, ...] = (512, 1024, 2048, 4096, 8192, None)
    mc_trials: int = 20_000
    seed: int = 13


QUICK = Plan(
    selections={8: 30, 32: 6},
    ks=(1, 3),
    budgets=(1024, 8192),
    escalations=((1024, 8192),),
    escalation_ks=(3,),
    truncation_selections=20,
    judge_pairs=100,
    judge_budgets=(1024, 8192, None),
    mc_trials=4000,
)


@dataclass(frozen=True)
class Setting:
    """One cell's judge and selector options."""

    family: str
    votes: int
    budget: int | None = None
    """The judge's thinking budget (None: none)."""
    escalation: tuple[int, int] | None = None
    """The selector's thinking_budgets."""
    early_stop: str = "off"
    forcing: str = "server"
    max_tokens: int | None = None

    @property
    def label(self) -> str:
        if self.escalation:
            text = f"k={self.votes}, T={_k(self.escalation[0])} -> {_k(self.escalation[1])}"
        else:
            text = f"k={self.votes}, " + (f"T={_k(self.budget)}" if self.budget else "no budget")
        if self.early_stop != "off" and self.family != "escalation":
            text += f", {self.early_stop}"
        if self.family == "truncation":
            text += f", {self.forcing} forcing" if self.budget else ""
            text += f", max_tokens={self.max_tokens}"
        return text

    def model_budgets(self) -> list[int | None] | None:
        """Each vote's budget for the Monte-Carlo model (None: not modelled). Early stopping at
        "decided" never changes a majority, so it is modelled as all its votes played."""
        if self.family == "truncation" or self.votes % 2 == 0:
            return None
        if self.escalation:
            first = self.votes // 2 + 1  # "decided"'s first wave, at the short budget
            return [self.escalation[0]] * first + [self.escalation[1]] * (self.votes - first)
        return [self.budget] * self.votes


def _k(tokens: int | None) -> str:
    return "none" if tokens is None else f"{tokens // 1024}k" if tokens % 1024 == 0 else str(tokens)


def settings(plan: Plan) -> list[Setting]:
    long = max(plan.budgets)
    cells = [Setting("votes", k, long) for k in plan.ks]
    cells += [Setting("budget", 1, t) for t in plan.budgets if t != long]
    cells += [Setting("grid", k, t) for k in plan.ks if k > 1 for t in plan.budgets if t != long]
    for k in plan.escalation_ks if ESCALATION else ():
        cells += [Setting("escalation", k, escalation=e, early_stop="decided") for e in plan.escalations]
        budgets = sorted({t for e in plan.escalations for t in e})
        cells += [Setting("decided", k, t, early_stop="decided") for t in budgets]
    return cells


def truncation_settings(plan: Plan) -> list[Setting]:
    k, budget = plan.truncation_k, plan.truncation_budget
    max_tokens = budget + plan.truncation_room
    return [
        Setting("truncation", k, None, max_tokens=max_tokens),
        Setting("truncation", k, budget, forcing="server", max_tokens=max_tokens),
        Setting("truncation", k, budget, forcing="client", max_tokens=max_tokens),
        Setting("truncation", k, None, max_tokens=8192),
    ]


def problems(n: int, count: int, seed: int) -> tuple[list[str], list[list[str]], list[int]]:
    """`count` selections among `n` candidates of uniform quality: queries, texts, the best's index."""
    rng = np.random.default_rng([seed, n])
    qualities = rng.random((count, n))
    queries = [f"Query {i}: which answer is best?" for i in range(count)]
    texts = [[candidate_text(j, q) for j, q in enumerate(row)] for row in qualities]
    return queries, texts, [int(i) for i in np.argmax(qualities, axis=1)]


def _judge(sim: SimJudge, setting: Setting) -> HTTPJudge:
    options: dict[str, Any] = {"max_tokens": setting.max_tokens}
    if setting.budget is not None:
        options.update(thinking_budget=setting.budget, forcing=setting.forcing)
    return HTTPJudge("sim", api_base=sim.api_base, **options)


def _selector(judge: HTTPJudge, setting: Setting, seed: int) -> KnockoutSelector:
    options: dict[str, Any] = {"votes": setting.votes, "order": "random", "early_stop": setting.early_stop}
    if setting.escalation is not None:
        options["thinking_budgets"] = setting.escalation
    return KnockoutSelector(judge, seed=seed, **options)  # type: ignore[arg-type]


def run_cell(sim: SimJudge, setting: Setting, n: int, count: int, plan: Plan) -> dict[str, Any]:
    """One cell: `count` selections among `n`, against a freshly reset simulated judge."""
    sim.reset(Profile(median_s=0.0, thinking=True, seed=plan.seed))
    queries, texts, best = problems(n, count, plan.seed)
    start = time.perf_counter()
    with _judge(sim, setting) as judge:
        results: list[Selection] = _selector(judge, setting, plan.seed).select_many(queries, texts)
    wall = time.perf_counter() - start
    stats = sim.stats()
    right = [r.best_index == b for r, b in zip(results, best, strict=True)]
    accuracy = statistics.fmean(right)
    votes = [v for r in results for v in r.votes]
    samples = stats["votes"]  # fresh samples the server wrote, resamples included
    lost = sum(r.usage.resamples + r.usage.abstentions for r in results)
    long = setting.escalation[1] if setting.escalation else None
    row: dict[str, Any] = {
        "family": setting.family,
        "label": setting.label,
        "setting": asdict(setting),
        "n": n,
        "selections": count,
        "accuracy": accuracy,
        "stderr": math.sqrt(accuracy * (1 - accuracy) / count),
        "tokens": statistics.fmean(r.usage.prompt_tokens + r.usage.completion_tokens for r in results),
        "prompt_tokens": statistics.fmean(r.usage.prompt_tokens for r in results),
        "completion_tokens": statistics.fmean(r.usage.completion_tokens for r in results),
        "votes": statistics.fmean(r.usage.votes for r in results),
        "requests": statistics.fmean(r.usage.requests for r in results),
        "abstentions": statistics.fmean(r.usage.abstentions for r in results),
        "resamples": statistics.fmean(r.usage.resamples for r in results),
        "forced_votes_reported": statistics.fmean(r.usage.forced_votes for r in results),
        "forced_share": stats["forced"] / samples if samples else 0.0,
        "lost_share": lost / samples if samples else 0.0,
        "long_budget_share": (sum(v.thinking_budget == long for v in votes) / len(votes)) if long else None,
        "server": stats,
        "wall_s": wall,
        "model": None,
    }
    budgets = setting.model_budgets()
    if budgets is not None:
        model = asdict(Profile(thinking=True))
        rng = np.random.default_rng([plan.seed, n, len(budgets)])
        row["model"] = montecarlo.thinking_knockout_accuracy(n, budgets, model, plan.mc_trials, rng)
    return row


def judge_curve(sim: SimJudge, plan: Plan) -> list[dict[str, Any]]:
    """Single votes on random pairs against the thinking budget (server forcing)."""
    rng = np.random.default_rng([plan.seed, 0])
    pairs = rng.random((plan.judge_pairs, 2))
    requests = [VoteRequest("Which is better?", candidate_text(0, a), candidate_text(1, b), plan.judge_n)
                for a, b in pairs]  # fmt: skip
    model = asdict(Profile(thinking=True))
    rows = []
    for budget in plan.judge_budgets:
        sim.reset(Profile(median_s=0.0, thinking=True, seed=plan.seed))
        options = {} if budget is None else {"thinking_budget": budget}
        with HTTPJudge("sim", api_base=sim.api_base, max_tokens=None if budget else 1 << 16, **options) as judge:
            ballots = asyncio.run(judge.ajudge(requests))
        right = [v.verdict == (1 if a > b else 2)
                 for (a, b), ballot in zip(pairs, ballots, strict=True) for v in ballot.votes]  # fmt: skip
        stats = sim.stats()
        accuracy = statistics.fmean(right)
        rows.append({
            "budget": budget,
            "votes": len(right),
            "accuracy": accuracy,
            "stderr": math.sqrt(accuracy * (1 - accuracy) / len(right)),
            "reasoning_tokens": stats["reasoning_tokens"] / stats["votes"],
            "forced_share": stats["forced"] / stats["votes"],
            "model": montecarlo.thinking_vote_accuracy(budget, model, 200_000, np.random.default_rng([plan.seed, 1])),
            "paper": PAPER.get(budget) if budget else None,
        })  # fmt: skip
    return rows


# -- the report ----------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _acc(row: dict[str, Any]) -> str:
    measured = f"{row['accuracy']:.3f} ± {row['stderr']:.3f}"
    return measured if row["model"] is None else f"{measured} ({row['model']:.3f})"


def _tok(tokens: float) -> str:
    return f"{tokens / 1000:.0f}k" if tokens >= 10_000 else f"{tokens / 1000:.1f}k"


def frontier(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cells no other cell beats on both accuracy and tokens (cheapest first)."""
    ordered = sorted(rows, key=lambda r: (r["tokens"], -r["accuracy"]))
    best, kept = -1.0, []
    for r in ordered:
        if r["accuracy"] > best:
            kept.append(r)
            best = r["accuracy"]
    return kept


def tables(report: dict[str, Any]) -> str:
    meta, plan = report["meta"], report["meta"]["plan"]
    selections = {int(n): count for n, count in plan["selections"].items()}
    ns = sorted(selections)
    per_cell = ", ".join(f"{selections[n]} selections per cell at N={n}" for n in ns)
    parts = [
        f"`{meta['command']}`: {meta['runtime_s']:.0f} s on {meta['cpus']} cores. The simulated thinking judge "
        "(`benchmarks/sim_judge.py`, `Profile(thinking=True)`, no latency) behind `HTTPJudge`; knockouts "
        f'(`order="random"`) over candidates of uniform random quality; {per_cell}. Tokens: the judge\'s prompt '
        "+ completion tokens per selection (`Selection.usage`; a prompt is 1000 tokens). Accuracy: the share of "
        "selections that picked the truly best, ± one standard error, in brackets the independent Monte-Carlo "
        f"model (`benchmarks/montecarlo.py`, {plan['mc_trials']} trials).",
    ]
    judge = report["judge"]
    parts.append(
        "**The judge** (single votes on random pairs, server forcing; the sim's curve against the RRM paper's "
        "RewardBench figures for RRM-7B):"
    )
    parts.append(
        suite_report._table(
            ["thinking budget", "votes", "vote accuracy (model)", "paper", "reasoning tokens / vote", "forced"],
            (
                [
                    _k(r["budget"]) if r["budget"] else "none",
                    r["votes"],
                    f"{r['accuracy']:.3f} ± {r['stderr']:.3f} ({r['model']:.3f})",
                    f"{r['paper']:.2f}" if r["paper"] else "",
                    f"{r['reasoning_tokens']:.0f}",
                    _pct(r["forced_share"]),
                ]
                for r in judge
            ),
        )
    )
    cells = report["cells"]
    by = {(r["label"], r["n"]): r for r in cells}
    labels = list(dict.fromkeys((r["family"], r["label"]) for r in cells))
    header = ["family", "setting"]
    for n in ns:
        header += [f"N={n} accuracy (model)", f"N={n} tokens"]
    header += [f"votes / selection (N={ns[0]})", "forced", "at the long budget"]
    rows = []
    for family, label in labels:
        first = by[(label, ns[0])]
        row = [family, label]
        for n in ns:
            r = by.get((label, n))
            row += [_acc(r), _tok(r["tokens"])] if r else ["", ""]
        long = first["long_budget_share"]
        row += [f"{first['votes']:.1f}", _pct(first["forced_share"]), "" if long is None else _pct(long)]
        rows.append(row)
    modelled = [r for r in cells if r["model"] is not None]
    within = sum(abs(r["accuracy"] - r["model"]) <= 2 * max(r["stderr"], 0.005) for r in modelled)
    parts.append(
        "**Selections** (families: `votes` = k votes at the longest budget, `budget` = one vote at each budget, "
        "`grid` = the other k x T cells, `escalation` = `thinking_budgets=(short, long)` with "
        "`early_stop=\"decided\"`: a match's first wave at the short budget, further waves, only when it was split, "
        "at the long one, `decided` = the same votes and early stop at one budget). `forced` is the share of "
        "samples whose reasoning was closed at the budget (counted by the server). "
        f"{within} of {len(modelled)} modelled cells are within two standard errors of the model. The cells are "
        "paired: every one plays the same candidates and brackets, and shares the judge's samples (a sample's "
        "draws depend on its prompt, not on the setting, and its luck is the same at every budget), so their "
        "deviations from the model move together and comparisons between cells are sharper than their errors "
        "suggest."
    )
    parts.append(suite_report._table(header, rows))
    for n in ns:
        kept = frontier([r for r in cells if r["n"] == n])
        parts.append(
            f"Best for the tokens at N={n} (the cells no other cell beats on both accuracy and tokens, cheapest "
            "first): "
            + "; ".join(f"{r['label']} ({r['family']}): {r['accuracy']:.2f} for {_tok(r['tokens'])}" for r in kept)
            + "."
        )
    trunc = report["truncation"]
    parts.append(
        f"**Truncation** (knockout, N={plan['truncation_n']}, k={plan['truncation_k']}, "
        f"{plan['truncation_selections']} selections per row): samples lost = cut at max_tokens before their "
        "verdict (resampled by the judge up to twice, then an abstention), as a share of the samples the server "
        "wrote. Not modelled (the model has no resampling)."
    )
    parts.append(
        suite_report._table(
            ["setting", "samples lost", "abstentions / selection", "forced", "accuracy (model)", "tokens", "requests"],
            (
                [
                    r["label"],
                    _pct(r["lost_share"]),
                    f"{r['abstentions']:.2f}",
                    _pct(r["forced_share"]),
                    _acc(r),
                    _tok(r["tokens"]),
                    f"{r['requests']:.1f}",
                ]
                for r in trunc
            ),
        )
    )
    parts += rule_of_thumb(report)
    wrapped = (p if p.startswith("|") or "\n" in p else textwrap.fill(p, 100, break_on_hyphens=False) for p in parts)
    return "\n\n".join(wrapped) + "\n"


def _close_pairs(budget: int = 1024, gap: float = 0.05, trials: int = 200_000) -> dict[str, float]:
    """Two votes at `budget` on pairs less than `gap` apart (the model): how often they agree, and
    how often an agreeing pair prefers the worse candidate."""
    rng = np.random.default_rng(0)
    gaps = rng.random(trials) * gap
    model = asdict(Profile(thinking=True))
    one, two = (montecarlo.thinking_right(gaps, budget, model, rng) for _ in range(2))
    agree = one == two
    return {"agree": float(agree.mean()), "wrong": float((~one & agree).sum() / agree.sum())}


def rule_of_thumb(report: dict[str, Any]) -> list[str]:
    """The rule of thumb the figures support, with the figures of this run (measured, and the
    model in brackets); a sentence whose cells this run lacks is left out."""
    cells = {(r["label"], r["n"]): r for r in report["cells"]}
    trunc = {r["label"]: r for r in report["truncation"]}
    n = min(r["n"] for r in report["cells"])

    close = _close_pairs()

    def at(label: str, where: int = n) -> str:
        r = cells[(label, where)]
        model = "" if r["model"] is None else f" ({r['model']:.2f})"
        return f"{r['accuracy']:.2f}{model} for {_tok(r['tokens'])}"

    def saved(label: str, decided: str) -> str:
        return _pct(1 - cells[(decided, n)]["tokens"] / cells[(label, n)]["tokens"])

    rules = [
        f"**Rule of thumb** for this judge model (best of {n} unless said; accuracy for the judge tokens per "
        "selection, the model's in brackets; check it against your judge's own curve):"
    ]
    sentences = [
        lambda: (
            "- **Think first, then vote.** Below about one long vote per match, one vote with the longest budget that "
            "fits does as well as a majority of short votes, or better, for the same tokens or fewer: one vote at 4k "
            f"{at('k=1, T=4k')}, three at 1k {at('k=3, T=1k')}; one at 8k {at('k=1, T=8k')}, five at 1k "
            f"(decided) {at('k=5, T=1k, decided')}. Single votes gain little past 4k (the judge's curve flattens "
            "and most votes end before 8k by themselves)."
        ),
        lambda: (
            '- **Then add votes at a long budget, with `early_stop="decided"`**: three votes at 8k '
            f"{at('k=3, T=8k, decided')} (off: {at('k=3, T=8k')}; deciding early saves "
            f"{saved('k=3, T=8k', 'k=3, T=8k, decided')} of the tokens and cannot change a majority, so the model "
            "is the same for both, and a gap between the two measured figures is noise), five "
            f"{at('k=5, T=8k, decided')} (off: {at('k=5, T=8k')}, {saved('k=5, T=8k', 'k=5, T=8k, decided')} saved). "
            f"At equal tokens this beats more votes at short budgets: seven at 1k {at('k=7, T=1k')}, five at 2k "
            f"{at('k=5, T=2k')}, against three at 4k {at('k=3, T=4k, decided')} and at 8k "
            f"{at('k=3, T=8k, decided')}."
        ),
        lambda: (
            "- **Escalation is a fair middle, not a free lunch.** `thinking_budgets=(1024, 8192)` costs about one long "
            f"vote per match and does as well as one: three votes {at('k=3, T=1k -> 8k')} against one at 8k "
            f"{at('k=1, T=8k')}; five votes {at('k=5, T=1k -> 8k')} against three decided at 4k "
            f"{at('k=3, T=4k, decided')}. Short votes that agree settle a match, and on a close pair they are little "
            f"better than a coin: on pairs less than 0.05 apart, the two 1k votes of a three-vote match agree "
            f"{_pct(close['agree'])} of the time, and then on the worse candidate {_pct(close['wrong'])} of the "
            "time (the model), so what escalation saves on easy matches it partly loses on the close ones that "
            "decide the best. "
            "(1024, 4096) is cheaper and a little worse "
            f"({at('k=3, T=1k -> 4k')})."
        ),
        lambda: (
            "- **Bound the reasoning with a budget, not with max_tokens**: at max_tokens = 2304, "
            f"{_pct(trunc['k=3, no budget, max_tokens=2304']['lost_share'])} of samples were cut before their verdict "
            f"without a budget (accuracy {trunc['k=3, no budget, max_tokens=2304']['accuracy']:.2f} for "
            f"{_tok(trunc['k=3, no budget, max_tokens=2304']['tokens'])}, resamples included) and none with "
            f"`thinking_budget=2048` ({trunc['k=3, T=2k, server forcing, max_tokens=2304']['accuracy']:.2f} for "
            f"{_tok(trunc['k=3, T=2k, server forcing, max_tokens=2304']['tokens'])}). Client forcing gives the same "
            f"verdicts for {_tok(trunc['k=3, T=2k, client forcing, max_tokens=2304']['tokens'])}: each forced vote is "
            "one more request that re-reads the prompt and the reasoning (prefix caching makes that cheap to "
            "compute, not to count). Prefer `forcing=\"server\"` where the server has a reasoning parser."
        ),
    ]
    if len({r["n"] for r in report["cells"]}) > 1:
        big = max(r["n"] for r in report["cells"])
        sentences.insert(
            3,
            lambda: (
                f"- **Best of {big}** follows the same order in the model; the measured cells, with errors near "
                "±0.04, mostly agree: one vote at 4k "
                f"{at('k=1, T=4k', big)}, three at 1k {at('k=3, T=1k', big)}; three decided at 4k "
                f"{at('k=3, T=4k, decided', big)}, seven at 1k {at('k=7, T=1k', big)}; escalation with three votes "
                f"{at('k=3, T=1k -> 8k', big)}, one vote at 8k {at('k=1, T=8k', big)}."
            )
        )
    for sentence in sentences:
        try:
            rules.append(sentence())
        except KeyError:
            pass
    if len(rules) == 1:
        return []
    head = textwrap.fill(rules[0], 100, break_on_hyphens=False)
    items = [textwrap.fill(r, 100, subsequent_indent="  ", break_on_hyphens=False) for r in rules[1:]]
    return ["\n".join([head, *items])]


# -- the plot (hand-written SVG) -----------------------------------------------------------------

COLORS = {
    "votes": "#1f77b4",
    "budget": "#ff7f0e",
    "grid": "#2ca02c",
    "escalation": "#d62728",
    "decided": "#9467bd",
}
SHADES = {
    "grid": ("#98df8a", "#2ca02c", "#1a5e1a"),
    "escalation": ("#f08080", "#b22222"),
    "decided": ("#b39ddb", "#5e35b1"),
}
"""Families drawn as one line per k: their lines' colours, from the smallest k, light to dark."""
MARKS = {"votes": "circle", "budget": "square", "grid": "circle", "escalation": "triangle", "decided": "diamond"}


def _marker(kind: str, x: float, y: float, color: str, hollow: bool = False, r: float = 4.0) -> str:
    fill = "none" if hollow else color
    style = f'fill="{fill}" stroke="{color}" stroke-width="1.2"'
    if kind == "square":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r:.1f}" height="{2 * r:.1f}" {style}/>'
    if kind == "triangle":
        pts = f"{x:.1f},{y - r * 1.2:.1f} {x - r:.1f},{y + r * 0.8:.1f} {x + r:.1f},{y + r * 0.8:.1f}"
        return f'<polygon points="{pts}" {style}/>'
    if kind == "diamond":
        pts = f"{x:.1f},{y - r * 1.2:.1f} {x - r:.1f},{y:.1f} {x:.1f},{y + r * 1.2:.1f} {x + r:.1f},{y:.1f}"
        return f'<polygon points="{pts}" {style}/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" {style}/>'


def _series(rows: list[dict[str, Any]]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(family, legend label, cells in drawing order) per line of the plot."""
    out = []
    for family in COLORS:
        cells = [r for r in rows if r["family"] == family]
        if not cells:
            continue
        if family == "grid":  # one line per k over T, with the budget family's k=1 and the 8k point
            for k in sorted({r["setting"]["votes"] for r in cells}):
                line = [r for r in rows if r["setting"]["votes"] == k and r["family"] in ("grid", "votes")]
                out.append((family, f"grid k={k} over T", sorted(line, key=lambda r: r["tokens"])))
        elif family == "votes":
            line = sorted(cells, key=lambda r: r["setting"]["votes"])
            out.append((family, "votes k=1..7 at the longest T", line))
        elif family == "budget":
            line = cells + [r for r in rows if r["family"] == "votes" and r["setting"]["votes"] == 1]
            out.append((family, "budget T=1k..8k, k=1", sorted(line, key=lambda r: r["tokens"])))
        else:
            for k in sorted({r["setting"]["votes"] for r in cells}):
                line = sorted((r for r in cells if r["setting"]["votes"] == k), key=lambda r: r["tokens"])
                names = {"escalation": "escalation", "decided": "decided at one T"}
                out.append((family, f"{names[family]}, k={k}", line))
    return out


def svg_plot(report: dict[str, Any], path: Path) -> None:
    """Accuracy against tokens per selection (log axis), one panel per N; filled markers with
    error bars are measured, hollow ones joined by dashes the Monte-Carlo model."""
    ns = sorted({r["n"] for r in report["cells"]})
    width, height, left, top, pw, ph = 560, 420, 70, 40, 440, 300
    total_w = width * len(ns)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{height + 150}" '
        f'viewBox="0 0 {total_w} {height + 150}" font-family="sans-serif" font-size="12">',
        f'<rect width="{total_w}" height="{height + 150}" fill="white"/>',
    ]
    legend: dict[str, tuple[str, str]] = {}
    for panel, n in enumerate(ns):
        rows = [r for r in report["cells"] if r["n"] == n]
        x0 = panel * width + left
        tokens = [r["tokens"] for r in rows]
        lo, hi = math.log10(min(tokens) / 1.3), math.log10(max(tokens) * 1.3)
        ys = [r["accuracy"] + r["stderr"] for r in rows] + [r["model"] or 0 for r in rows]
        ymax = min(1.0, math.ceil(max(ys) * 10 + 0.5) / 10)
        ymin = max(0.0, math.floor(min(r["accuracy"] - r["stderr"] for r in rows) * 10 - 0.5) / 10)

        def sx(t: float, x0: float = x0, lo: float = lo, hi: float = hi) -> float:
            return x0 + (math.log10(t) - lo) / (hi - lo) * pw

        def sy(a: float, ymin: float = ymin, ymax: float = ymax) -> float:
            return top + (1 - (a - ymin) / (ymax - ymin)) * ph

        out.append(f'<rect x="{x0}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
        out.append(f'<text x="{x0 + pw / 2}" y="{top - 12}" text-anchor="middle" font-size="14">Best of {n}</text>')
        for e in range(math.floor(lo), math.ceil(hi) + 1):
            for m in (1, 2, 5):
                t = m * 10**e
                if lo <= math.log10(t) <= hi:
                    x = sx(t)
                    out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#ddd"/>')
                    out.append(f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle">{_tok(t)}</text>')
        steps = round((ymax - ymin) / 0.1)
        for i in range(steps + 1):
            a = ymin + i * 0.1
            y = sy(a)
            out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + pw}" y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{x0 - 8}" y="{y + 4:.1f}" text-anchor="end">{a:.1f}</text>')
        out.append(
            f'<text x="{x0 + pw / 2}" y="{top + ph + 36}" text-anchor="middle">'
            "judge tokens per selection (log)</text>"
        )
        out.append(
            f'<text transform="translate({x0 - 48},{top + ph / 2}) rotate(-90)" text-anchor="middle">'
            "P(selected = best)</text>"
        )
        shades = {family: iter(colors) for family, colors in SHADES.items()}
        for family, name, line in _series(rows):
            color, kind = COLORS[family], MARKS[family]
            if family in shades:
                color = next(shades[family], color)
            legend[name] = (color, kind)
            dash = ' stroke-dasharray="1,3"' if family == "grid" else ""
            pts = " ".join(f"{sx(r['tokens']):.1f},{sy(r['accuracy']):.1f}" for r in line)
            out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.5"{dash}/>')
            modelled = [r for r in line if r["model"] is not None]
            if len(modelled) > 1:
                mpts = " ".join(f"{sx(r['tokens']):.1f},{sy(r['model']):.1f}" for r in modelled)
                out.append(
                    f'<polyline points="{mpts}" fill="none" stroke="{color}" stroke-width="0.8" '
                    'stroke-dasharray="4,3" opacity="0.7"/>'
                )
            if family == "grid" and line:  # name each line at its last point (T = 8k)
                end = line[-1]
                tag = f"k={end['setting']['votes']}"
                out.append(f'<text x="{sx(end["tokens"]) + 7:.1f}" y="{sy(end["accuracy"]) + 14:.1f}" '
                           f'fill="{color}" font-size="10">{tag}</text>')  # fmt: skip
            for r in line:
                x, y = sx(r["tokens"]), sy(r["accuracy"])
                y1, y2 = sy(r["accuracy"] - r["stderr"]), sy(r["accuracy"] + r["stderr"])
                out.append(f'<line x1="{x:.1f}" y1="{y1:.1f}" x2="{x:.1f}" y2="{y2:.1f}" stroke="{color}"/>')
                out.append(_marker(kind, x, y, color, r=3.0 if family == "grid" else 4.0))
                if r["model"] is not None:
                    out.append(_marker(kind, x, sy(r["model"]), color, hollow=True, r=3.0))
    # the legend, below the panels
    y, x = height + 10, left
    for i, (name, (color, kind)) in enumerate(legend.items()):
        col, row = divmod(i, 4)
        lx, ly = x + col * 270, y + row * 20
        out.append(_marker(kind, lx, ly, color))
        out.append(f'<text x="{lx + 10}" y="{ly + 4}">{name}</text>')
    note_y = y + 4 * 20 + 12
    out.append(
        f'<text x="{left}" y="{note_y}">Filled: measured (± one standard error). Hollow, dashed: the Monte-Carlo '
        "model. Dotted green lines: the k x T grid, one line per k over T = 1k .. 8k.</text>"
    )
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def write(report: dict[str, Any], out: Path) -> str:
    return suite_report.write(report, out, name="thinking", render=tables, draw=svg_plot, image="svg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run into a temporary folder")
    rewrite = "rewrite thinking.md, thinking.svg and the README block from thinking.json, without a run"
    parser.add_argument("--rewrite", action="store_true", help=rewrite)
    args = parser.parse_args()
    if args.rewrite:
        _publish(json.loads((RESULTS / "thinking.json").read_text()), RESULTS)
        return
    plan = QUICK if args.quick else Plan()
    out = Path(tempfile.mkdtemp(prefix="thinking-")) if args.quick else RESULTS
    command = "python benchmarks/thinking.py" + (" --quick" if args.quick else "")
    start = time.perf_counter()
    report: dict[str, Any] = {"cells": [], "truncation": []}
    with SimJudge() as sim:
        report["judge"] = judge_curve(sim, plan)
        print(f"judge curve: {time.perf_counter() - start:.0f} s", flush=True)
        for n, count in plan.selections.items():
            for setting in settings(plan):
                row = run_cell(sim, setting, n, count, plan)
                report["cells"].append(row)
                model = "" if row["model"] is None else f" (model {row['model']:.3f})"
                print(f"N={n} {setting.family:10} {setting.label:28} {row['accuracy']:.3f}{model} "
                      f"{row['tokens']:9.0f} tokens {row['wall_s']:5.1f} s", flush=True)  # fmt: skip
        for setting in truncation_settings(plan):
            row = run_cell(sim, setting, plan.truncation_n, plan.truncation_selections, plan)
            report["truncation"].append(row)
            print(f"truncation {setting.label:50} lost {row['lost_share']:.3f} {row['wall_s']:5.1f} s", flush=True)
    plan_dict = asdict(plan)
    plan_dict["selections"] = {str(n): c for n, c in plan.selections.items()}
    report["meta"] = {
        "command": command,
        "runtime_s": time.perf_counter() - start,
        "cpus": os.cpu_count(),
        "plan": plan_dict,
        "profile": asdict(Profile(thinking=True, seed=plan.seed)),
    }
    if args.quick:
        print(write(report, out))
        print(f"results in {out}")
    else:
        _publish(report, out)


def _publish(report: dict[str, Any], out: Path) -> None:
    """Write the results into `out` and the README block."""
    markdown = write(report, out)
    print(markdown)
    image = ("Accuracy against judge tokens with a thinking judge", "benchmarks/results/thinking.svg")
    if suite_report.update_readme(README, markdown, markers=MARKERS, image=image):
        print(f"README block rewritten; results in {out}")


if __name__ == "__main__":
    main()
