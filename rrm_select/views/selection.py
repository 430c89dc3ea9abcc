"""A `Selection` as a picture: what was asked, who won, and how (`Selection._repr_html_`,
`Selection.to_html`, ``rrm-select select --html``).

The matches are split into stages: the knockout rounds, drawn as a bracket; and a round robin
(the finalists', an Elo selection's, or Swiss rounds), drawn as standings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby

from rrm_select.types import Match, Selection
from rrm_select.views.bracket import bracket
from rrm_select.views.html import (
    NOTEBOOK_CHARS,
    SHOWN_CHARS,
    escape,
    expandable,
    fragment,
    number,
    page,
    preview,
    seat,
    table,
    tag,
)
from rrm_select.views.standings import standings


def selection_fragment(selection: Selection) -> str:
    """The picture as a notebook cell's HTML (no script: front ends strip them anyway), each
    text cut at `NOTEBOOK_CHARS`."""
    return fragment(_body(selection, NOTEBOOK_CHARS))


def selection_page(selection: Selection) -> str:
    """The picture as a whole, self-contained HTML page."""
    title = f"rrm_select: {selection.method} of {len(selection.candidates)} candidates"
    return page(title, _body(selection, SHOWN_CHARS))


@dataclass(frozen=True)
class Stage:
    """Consecutive rounds drawn alike: a knockout's bracket, or a round robin's standings."""

    title: str
    rounds: list[list[Match]]
    knockout: bool
    final: bool = False
    """A knockout whose last round is the final (one match, nothing after it)."""


def stages(selection: Selection) -> list[Stage]:
    """The selection's matches as stages. In a knockout round everyone plays at most once; the
    first round in which someone plays twice starts the finalists' round robin. With an answer
    key, the trailing rounds in which only candidates of one answer were judged against each
    other are the play-off among the winning answer's candidates (a knockout)."""
    # sorted is stable: a round's matches keep the selection's order
    by_round = sorted(selection.matches, key=lambda m: m.round)
    rounds = [list(matches) for _, matches in groupby(by_round, key=lambda m: m.round)]
    play_off = len(rounds)
    while play_off and all(_within_answer(selection, m) for m in rounds[play_off - 1]):
        play_off -= 1
    rounds, extra = rounds[:play_off], rounds[play_off:]
    if selection.method != "knockout":
        title = "Round robin" if selection.method == "elo" else f"Swiss, {len(rounds)} rounds"
        found = [Stage(title, rounds, knockout=False)]
    else:
        split = next((at for at, matches in enumerate(rounds) if _plays_twice(matches)), len(rounds))
        final = split == len(rounds) and bool(rounds) and len(rounds[-1]) == 1 and not extra
        found = [Stage("Knockout", rounds[:split], knockout=True, final=final)]
        if split < len(rounds):
            title = f"Round robin of the {_players(rounds[split:])} finalists"
            found.append(Stage(title, rounds[split:], knockout=False))
    if extra:
        title = f"Play-off among the {_players(extra)} candidates of the winning answer"
        found.append(Stage(title, extra, knockout=True, final=len(extra[-1]) == 1))
    return [stage for stage in found if stage.rounds]


def _within_answer(selection: Selection, match: Match) -> bool:
    """A match judged between two candidates of one answer: only a play-off judges those."""
    answers = selection.answers
    same = answers is not None and answers[match.a] is not None and answers[match.a] == answers[match.b]
    return same and match.decided_by != "same_answer"


def _body(selection: Selection, limit: int) -> str:
    """The picture, each text cut after `limit` characters."""
    n = len(selection.candidates)
    parts = [f"<h1>{escape(f'{selection.method.capitalize()} of {n} candidates: #{selection.best_index} won')}</h1>",
             expandable(f"query: {preview(selection.query)}", selection.query, limit=limit), _usage(selection),
             "<h2>Candidates</h2>", _candidates(selection, limit)]  # fmt: skip
    for stage in stages(selection):
        parts.append(f"<h2>{escape(stage.title)}</h2>")
        if stage.knockout:
            parts.append(bracket(selection, stage.rounds, final=stage.final, limit=limit))
        else:
            parts.append(standings(selection, [m for matches in stage.rounds for m in matches], limit=limit))
    if not selection.matches:
        parts.append('<p class="muted">No match was played.</p>')
    return "".join(parts)


def _plays_twice(matches: Sequence[Match]) -> bool:
    players = [p for m in matches for p in (m.a, m.b)]
    return len(players) != len(set(players))


def _players(rounds: Sequence[Sequence[Match]]) -> int:
    return len({p for r in rounds for m in r for p in (m.a, m.b)})


def _candidates(selection: Selection, limit: int) -> str:
    knockout = selection.method == "knockout"
    head = ["rank", "#", "candidate"] + (["answer"] if selection.answers is not None else [])
    head.append("round reached" if knockout else "rating")
    rows, classes = [], []
    for rank, i in enumerate(selection.ranking, 1):
        shown = expandable(preview(selection.candidates[i]), selection.candidates[i], limit=limit)
        cells = [str(rank), seat(i, winner=i == selection.best_index), shown]
        if selection.answers is not None:
            given = selection.answers[i]
            cells.append('<span class="muted">none</span>' if given is None else preview(given, 40))
        cells.append(number(selection.scores[i]))
        rows.append(cells)
        classes.append("winner" if i == selection.best_index else "")
    return table(head, rows, numeric=[0, len(head) - 1], row_class=classes)


def _usage(selection: Selection) -> str:
    u = selection.usage
    facts = [f"{u.votes} votes in {u.requests} requests", f"{u.prompt_tokens + u.completion_tokens:,} judge tokens",
             f"{u.wall_time_s:.1f} s", f"seed {selection.seed}"]  # fmt: skip
    if u.cost_usd is not None:
        facts.insert(2, f"${u.cost_usd:.4f}")
    if u.flip_rate is not None:
        facts.append(f"order flips {u.flip_rate:.0%} of {u.order_pairs} pairs")
    tags = [tag(f"{u.abstentions} abstained", warn=True)] if u.abstentions else []
    if u.forced_votes:
        tags.append(tag(f"{u.forced_votes} forced at the thinking budget", warn=True))
    if selection.stopped_early:
        tags.append(tag(f"stopped early ({selection.stopped_early}): the best so far", warn=True))
    return f'<p class="muted">{escape(" · ".join(facts))}</p><div class="tags">{"".join(tags)}</div>'
