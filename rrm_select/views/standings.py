"""A round robin or Swiss stage drawn as standings: ratings with their uncertainty, the win matrix.

Candidates are listed as the selection ranked them. The ratings are the Bradley-Terry fit of
the stage's valid votes, on the Elo scale, each with its standard error from the fit: two
candidates whose whiskers overlap were not told apart by the votes. The win matrix shows who
took how many votes off whom.
"""

from __future__ import annotations

from collections.abc import Sequence

from rrm_select.ratings import ELO_BASE, ELO_SCALE, bradley_terry_errors, win_matrix
from rrm_select.types import Match, Selection
from rrm_select.views.bracket import match_card
from rrm_select.views.html import bars, escape, number, preview, seat, table

def standings(selection: Selection, matches: Sequence[Match], *, limit: int) -> str:
    """The ratings (± standard error) of everyone in `matches`, their win matrix, and the
    matches themselves one click away."""
    players = sorted({p for m in matches for p in (m.a, m.b)})
    wins = win_matrix(matches, players)
    strengths, errors = bradley_terry_errors(wins)  # the selectors' default prior
    ratings, spread = ELO_SCALE * strengths, ELO_SCALE * errors
    place = {candidate: at for at, candidate in enumerate(selection.ranking)}
    order = sorted(range(len(players)), key=lambda i: place[players[i]])  # as the selection ranked them
    chart = bars([f"#{players[i]}" for i in order], [float(ratings[i]) for i in order],
                 whiskers=[(float(ratings[i] - spread[i]), float(ratings[i] + spread[i])) for i in order],
                 title="rating against the average, Elo points ± standard error")  # fmt: skip
    rows, classes = [], []
    for rank, i in enumerate(order, 1):
        won, played = wins[i].sum(), wins[i].sum() + wins[:, i].sum()
        best = players[i] == selection.best_index
        cells = [str(rank), seat(players[i], winner=best), preview(selection.candidates[players[i]], 60),
                 f"{number(ELO_BASE + ratings[i])} ± {number(spread[i])}", f"{won:g} / {played:g}"]  # fmt: skip
        cells += ["·" if i == j else f"{wins[i, j]:g}" for j in order]
        rows.append(cells)
        classes.append("winner" if best else "")
    head = ["rank", "#", "candidate", "rating", "votes won"] + [f"vs #{players[j]}" for j in order]
    numeric = [0, 3, 4, *range(5, 5 + len(order))]
    listed = "".join(match_card(selection, m, limit=limit) for m in matches)
    return (f'<div class="standings">{chart}'
            '<p class="muted">In the selection\'s order; the ratings are a Bradley-Terry fit of these valid '
            "votes (the default prior), which a selector rating otherwise (online Elo, another prior) "
            "need not share. A cell is the votes the row took off the column.</p>"
            f"{table(head, rows, numeric=numeric, row_class=classes)}"
            f"<details><summary>{escape(f'all {len(matches)} matches')}</summary>{listed}</details></div>")  # fmt: skip
