"""The suite's report: suite.json, the markdown tables (suite.md and the README block), suite.png."""

from __future__ import annotations

import json
import re
import statistics
import textwrap
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- suite:begin -->", "<!-- suite:end -->"


def write(
    report: dict[str, Any],
    out: Path,
    *,
    name: str = "suite",
    render: Callable[[dict[str, Any]], str] | None = None,
    draw: Callable[[dict[str, Any], Path], None] | None = None,
    image: str = "png",
) -> str:
    """Write NAME.json, NAME.md (by `render`) and the NAME.`image` plot (by `draw`) into `out`,
    the suite's own by default; return the markdown."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
    markdown = (render or tables)(report)
    (out / f"{name}.md").write_text(markdown)
    (draw or plot)(report, out / f"{name}.{image}")
    return markdown


def update_readme(
    readme: Path,
    markdown: str,
    *,
    markers: tuple[str, str] = (BEGIN, END),
    image: tuple[str, str] | None = ("The performance suite", "benchmarks/results/suite.png"),
) -> bool:
    """Replace the README's generated block between `markers` (the suite's by default) with
    `markdown` and the `image` (alt text, path) after it, if the README has the markers; return
    whether it had them."""
    begin, end = markers
    text = readme.read_text()
    if begin not in text or end not in text:
        return False
    figure = f"\n![{image[0]}]({image[1]})" if image else ""
    block = f"{begin}\n{markdown}{figure}\n{end}"
    readme.write_text(re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.DOTALL))
    return True


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def tables(report: dict[str, Any]) -> str:
    meta, plan = report["meta"], report["meta"]["plan"]
    parts = [
        (
            f"`{meta['command']}`: {meta['runtime_s']:.0f} s on {meta['cpus']} cores "
            f"(load average {meta['load_average_before_after'][0]} before, {meta['load_average_before_after'][1]} after)."
        )
    ]
    for rerun in meta.get("reruns", []):
        parts[0] += f" Rerun since: `{rerun['command']}`, {rerun['runtime_s']:.0f} s."
    parts += _critical_path(report["critical_path"], report["client_cpu"], plan)
    parts += _accuracy(report["accuracy"], plan)
    parts += _adaptive(report["adaptive"], plan)
    parts += _hedging(report["hedging"], plan)
    parts += _budget(report["budget"])
    # Prose wrapped like the rest of the README; tables stay one row per line.
    return "\n\n".join(p if p.startswith("|") else textwrap.fill(p, 100, break_on_hyphens=False) for p in parts) + "\n"


def _cells(rows: list[dict[str, Any]]) -> str:
    runs = len(rows[0].get("ratio_runs", [None]))
    return "one selection per cell" if runs == 1 else f"each cell the median of {runs} runs"


def _critical_path(rows: list[dict[str, Any]], cpu: list[dict[str, Any]], plan: dict[str, Any]) -> list[str]:
    grid: dict[tuple[str, int, int], dict[str, Any]] = {}
    for r in rows:  # the first run of each point (the headline point is repeated at the end)
        grid.setdefault((r["method"], r["n"], r["k"]), r)
    columns = [(m, k) for m in ("knockout", "elo") for k in plan["ks"]]
    header = ["N", *(f"{m} k={k}" for m, k in columns)]
    ratio = _table(header, ([n, *(f"{grid[(m, n, k)]['ratio']:.3f}" for m, k in columns)] for n in plan["ns"]))
    calls = _table(
        header,
        (
            [n, *(f"{grid[(m, n, k)]['server_votes']} / {grid[(m, n, k)]['tournament_votes']}" for m, k in columns)]
            for n in plan["ns"]
        ),
    )
    n, k = max(plan["ns"]), max(plan["ks"])
    headline = [r["ratio"] for r in rows if (r["method"], r["n"], r["k"]) == ("knockout", n, k)]
    exact = all(r["server_votes"] == r["client_votes"] == r["tournament_votes"] for r in rows) and all(
        r["server_requests"] == r["client_requests"] for r in rows
    )
    http_ms = 1000 * sum(r["client_cpu_s"] for r in rows) / sum(r["client_requests"] for r in rows)
    own = {(r["method"], r["k"]): r for r in cpu}
    own_ms = max(r["cpu_ms_per_request"] for r in cpu)
    cpu_table = _table(
        ["method", "N", "k", "votes", "requests", "CPU ms / vote", "CPU ms / request"],
        (
            [m, r["n"], k_, r["votes"], r["requests"], f"{r['cpu_ms_per_vote']:.3f}", f"{r['cpu_ms_per_request']:.3f}"]
            for (m, k_), r in own.items()
        ),
    )
    return [
        f"**Critical path** (real `LiteLLMJudge` over HTTP, simulated judge in its own process with a fixed "
        f"{plan['latency_s']} s latency and no capacity limit; {_cells(rows)}). Wall time divided by the "
        "critical-path ideal (knockout: ceil(log2 N) x latency, ELO: 1 x latency); target <= 1.15 at "
        f"N={n}, k={k}, knockout. That point over {len(headline)} runs: "
        + ", ".join(f"{x:.3f}" for x in headline)
        + f" (median {statistics.median(headline):.3f}).",
        ratio,
        "**Calls**: votes counted at the server / the tournament's votes (knockout (N-1) x k, ELO N(N-1)/2 x k). "
        + (
            "In every run the server saw exactly the tournament's votes, and as many requests as the "
            "selection's `usage.requests` (a match of k votes in random orders is one request per order seen)."
            if exact
            else "**Some run sent more or fewer calls than its tournament: see suite.json.**"
        ),
        calls,
        (
            "**Client CPU** spent in rrm_select, against an in-process judge that answers instantly (no litellm, no "
            "HTTP); target < 1 ms per vote:"
        ),
        cpu_table,
        (
            f"Over HTTP the client spent {http_ms:.2f} ms of CPU per request in all (averaged over the critical-path "
            f"runs), of which rrm_select at most {own_ms:.2f} ms: the rest, about {http_ms - own_ms:.1f} ms, is "
            "litellm's. That is what keeps ELO's ratio above 1 at large N: its thousands of requests all start at "
            "once, and the last one leaves only after the client has prepared all the others."
        ),
    ]


def _accuracy(rows: list[dict[str, Any]], plan: dict[str, Any]) -> list[str]:
    ps = plan["accuracies"]
    points: dict[tuple[str, int, int], dict[float, dict[str, Any]]] = {}
    for r in rows:
        points.setdefault((r["method"], r["n"], r["k"]), {})[r["p"]] = r

    def cell(r: dict[str, Any]) -> str:
        measured = f"{r['accuracy']:.3f} ± {r['stderr']:.3f}"
        return measured if r["model"] is None else f"{measured} ({r['model']:.3f})"

    table = _table(
        ["method", "N", "k", "votes / selection", "requests / selection", *(f"p={p}" for p in ps)],
        (
            [m, n, k, f"{by_p[ps[0]]['votes']:.0f}", f"{by_p[ps[0]]['requests']:.1f}"] + [cell(by_p[p]) for p in ps]
            for (m, n, k), by_p in points.items()
        ),
    )
    modelled = [r for r in rows if r["model"] is not None]
    within = sum(abs(r["accuracy"] - r["model"]) <= 2 * max(r["stderr"], 0.005) for r in modelled)
    return [
        (
            f"**Accuracy**: share of {plan['selections']} selections per cell that picked the truly best candidate, "
            "with a judge that prefers the better of two with probability p per vote (`ScriptedJudge`), ± one "
            f"standard error, and in brackets the independent Monte-Carlo model ({plan['mc_trials']} trials). "
            f"{within} of {len(modelled)} modelled cells are within two standard errors of the model. "
            "`knockout+4` is `KnockoutSelector(finalists=4)`: a knockout down to 4, then a round robin among them "
            "(N + 2 matches); `swiss` is `SwissSelector()`: ceil(log2 N) + 1 rounds of N/2 matches, not modelled."
        ),
        table,
    ]


def _adaptive(figures: dict[str, list[dict[str, Any]]], plan: dict[str, Any]) -> list[str]:
    runs = {(r["k"], r["p"], r["early_stop"]): r for r in figures["calls"]}

    def cell(k: int, p: float, mode: str) -> str:
        r, off = runs[(k, p, mode)], runs[(k, p, "off")]
        return f"{r['votes']:.1f} (-{_pct(1 - r['votes'] / off['votes'])}), {r['accuracy']:.3f}"

    calls = _table(
        [
            "k",
            "p",
            "off: votes, accuracy",
            "decided: votes (saved), accuracy",
            "confident 0.95: votes (saved), accuracy",
        ],
        (
            [k, p, f"{runs[(k, p, 'off')]['votes']:.1f}, {runs[(k, p, 'off')]['accuracy']:.3f}"]
            + [cell(k, p, mode) for mode in ("decided", "confident")]
            for k in plan["adaptive_ks"]
            for p in plan["accuracies"]
        ),
    )
    waves = {(r["k"], r["early_stop"]): r["judge_latencies"] for r in figures["latency"]}
    p = figures["latency"][0]["p"]
    latency = _table(
        ["k", "off", "decided", "confident"],
        ([k, *(f"{waves[(k, mode)]:.2f}" for mode in ("off", "decided", "confident"))] for k in plan["adaptive_ks"]),
    )
    return [
        (
            f"**Adaptive voting** (knockout, N=8, {plan['adaptive_selections']} selections per row): mean votes per "
            'selection and accuracy with `early_stop` off, `"decided"` (waves until the majority cannot change) and '
            '`"confident"` (also stop once the leader is ahead with posterior probability 0.95).'
        ),
        calls,
        (
            f"What the waves cost in latency: mean time of {plan['wave_selections']} selections in judge latencies "
            f"(p={p}, 3 rounds: 3 latencies when off)."
        ),
        latency,
    ]


def _hedging(rows: list[dict[str, Any]], plan: dict[str, Any]) -> list[str]:
    profile = plan["hedge_profile"]
    table = _table(
        ["hedge", "p50 s", "p90 s", "p99 s", "mean s", "requests / selection", "hedges / selection"],
        (
            [r["hedge"], r["p50_s"], r["p90_s"], r["p99_s"], r["mean_s"], r["requests_per_selection"]]
            + [r["hedges_per_selection"]]
            for r in rows
        ),
    )
    return [
        (
            f"**Hedging** (knockout, N=8, k=1, {plan['hedge_selections']} selections, {plan['hedge_concurrency']} at a "
            f"time, over HTTP; judge latency lognormal with median {profile['median_s']} s and sigma "
            f"{profile['sigma']}, so 3 rounds take {3 * profile['median_s']:.2f} s at the median). `Hedge()` resends "
            "a call once it has run 3 x the median of recent calls."
        ),
        table,
    ]


def _budget(rows: list[dict[str, Any]]) -> list[str]:
    budgets = list(dict.fromkeys(r["budget"] for r in rows))
    by_method: dict[tuple[str, int], dict[Any, dict[str, Any]]] = {}
    for r in rows:
        by_method.setdefault((r["method"], r["k"]), {})[r["budget"]] = r
    table = _table(
        ["method", "k", *(f"budget {b}" if b else "no budget" for b in budgets)],
        (
            [m, k]
            + [
                f"{c[b]['accuracy']:.2f} ({c[b]['requests']:.0f} calls, {_pct(c[b]['stopped_early'])} cut)"
                for b in budgets
            ]
            for (m, k), c in by_method.items()
        ),
    )
    r = rows[0]
    return [
        (
            f"**Budget** (`budget=M` judge calls per selection; N={r['n']}, p={r['p']}): accuracy, mean calls made, and "
            "the share of selections that stopped early (`Selection.stopped_early`)."
        ),
        table,
    ]


COLORS = {"knockout": "tab:blue", "knockout+4": "tab:cyan", "swiss": "tab:orange", "elo": "tab:green"}


def _log_ticks(ax: Any, axis: str, ticks: Sequence[float]) -> None:
    """A log axis labelled with plain numbers at `ticks`."""
    getattr(ax, f"set_{axis}scale")("log")
    ax.minorticks_off()
    getattr(ax, f"set_{axis}ticks")(ticks, [f"{t:g}" for t in ticks])


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plan = report["meta"]["plan"]
    fig, axes = plt.subplots(2, 3, figsize=(16, 9.5))
    (ratio_ax, acc_ax, cost_ax), (wave_ax, hedge_ax, budget_ax) = axes
    k_styles = dict(zip(plan["ks"], ("-o", "--s", ":^"), strict=False))

    first: dict[tuple[str, int, int], float] = {}
    for r in report["critical_path"]:
        first.setdefault((r["method"], r["n"], r["k"]), r["ratio"])
    for method in ("knockout", "elo"):
        for k in plan["ks"]:
            ratios = [first[(method, n, k)] for n in plan["ns"]]
            ratio_ax.plot(plan["ns"], ratios, k_styles[k], color=COLORS[method], label=f"{method} k={k}")
    ratio_ax.axhline(1.15, color="grey", lw=0.8, ls=":", label="target 1.15")
    _log_ticks(ratio_ax, "x", plan["ns"])
    _log_ticks(ratio_ax, "y", [1, 1.15, 1.5, 2, 4, 8, 16])
    ratio_ax.set(xlabel="N", ylabel="wall time / critical-path ideal")
    ratio_ax.set_title(f"Critical path over HTTP ({plan['latency_s']} s judge)")

    n0 = plan["accuracy_ns"][0]
    for method, color in COLORS.items():
        for k in (min(plan["ks"]), max(plan["ks"])):
            cells = [r for r in report["accuracy"] if (r["method"], r["n"], r["k"]) == (method, n0, k)]
            ps = [r["p"] for r in cells]
            style = k_styles[k]
            acc_ax.errorbar(ps, [r["accuracy"] for r in cells], [r["stderr"] for r in cells], fmt=style[-1],
                            color=color, label=f"{method} k={k}")  # fmt: skip
            acc_ax.plot(ps, [r["model"] for r in cells], style[:-1], color=color, lw=0.8)
    acc_ax.set(xlabel="judge pairwise accuracy p", ylabel="P(selected = best)")
    acc_ax.set_title(f"Accuracy, N={n0} (markers: measured; lines: Monte-Carlo)")

    p_mid = plan["accuracies"][len(plan["accuracies"]) // 2]
    for n, style in zip(plan["accuracy_ns"], ("-o", "--s"), strict=False):
        for method, color in COLORS.items():
            cells = [r for r in report["accuracy"] if (r["method"], r["n"], r["p"]) == (method, n, p_mid)]
            if cells:
                ks = ", ".join(str(r["k"]) for r in cells)
                cost_ax.plot([r["votes"] for r in cells], [r["accuracy"] for r in cells], style, color=color,
                             label=f"{method} N={n} (k={ks})")  # fmt: skip
    _log_ticks(cost_ax, "x", [5, 10, 20, 50, 100, 200, 500])
    cost_ax.set(xlabel="judge votes per selection", ylabel="P(selected = best)")
    cost_ax.set_title(f"Accuracy for the calls (p={p_mid})")

    runs = {(r["k"], r["p"], r["early_stop"]): r for r in report["adaptive"]["calls"]}
    for k, color in zip(plan["adaptive_ks"], ("tab:blue", "tab:orange", "tab:red"), strict=False):
        for mode, style in (("decided", "-o"), ("confident", "--s")):
            saved = [1 - runs[(k, p, mode)]["votes"] / runs[(k, p, "off")]["votes"] for p in plan["accuracies"]]
            wave_ax.plot(plan["accuracies"], saved, style, color=color, label=f"k={k} {mode}")
    wave_ax.set(xlabel="judge pairwise accuracy p", ylabel="share of votes saved vs early_stop off")
    wave_ax.set_title("Adaptive voting (knockout, N=8)")

    for r, color in zip(report["hedging"], ("tab:red", "tab:blue"), strict=False):
        walls = r["latencies_s"]
        hedge_ax.plot(walls, [(i + 1) / len(walls) for i in range(len(walls))], color=color,
                      label=f"{r['hedge']}: p50 {r['p50_s']} s, p99 {r['p99_s']} s")  # fmt: skip
    hedge_ax.set(xlabel="selection latency (s)", ylabel="share of selections")
    hedge_ax.set_title("Hedging on a lognormal judge (knockout, N=8, over HTTP)")

    budgets = [b for b in dict.fromkeys(r["budget"] for r in report["budget"]) if b]
    for method, k in dict.fromkeys((r["method"], r["k"]) for r in report["budget"]):
        color = COLORS[method] if k == 1 else "tab:purple"
        cells = {r["budget"]: r for r in report["budget"] if (r["method"], r["k"]) == (method, k)}
        budget_ax.plot(budgets, [cells[b]["accuracy"] for b in budgets], "-o", color=color, label=f"{method} k={k}")
        budget_ax.axhline(cells[None]["accuracy"], color=color, lw=0.8, ls=":")
    _log_ticks(budget_ax, "x", budgets)
    budget_ax.set(xlabel="budget (judge calls per selection)", ylabel="P(selected = best)")
    budget_ax.set_title(f"Budget (N={report['budget'][0]['n']}, p={report['budget'][0]['p']}; dotted: no budget)")

    for ax in axes.flat:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
