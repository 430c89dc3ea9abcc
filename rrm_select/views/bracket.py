"""A knockout drawn as its bracket: one column per round, one card per match.

A card shows both entrants with the valid votes each won (the winner highlighted), how the
match was decided, its forced votes and abstentions, the entrants' answers where the selector
had an answer key, and, one click away, every vote: the order it saw and what the judge said.
"""

from __future__ import annotations

from collections.abc import Sequence

from rrm_select.types import Match, Selection, Vote
from rrm_select.views.html import escape, expandable, preview, seat, tag

DECIDED_BY = {
    "majority": "majority of votes",
    "tie_break": "tie broken by a seeded coin",
    "no_valid_vote": "no valid vote: a seeded coin",
    "identical": "identical texts, not judged",
    "unplayed": "unplayed (budget or deadline)",
    "same_answer": "same answer, not judged",
    "answer_prior": "decided by the answers' agreement",
}
"""Each `Decision` as a reader would put it."""


def bracket(selection: Selection, rounds: Sequence[Sequence[Match]], *, final: bool, limit: int) -> str:
    """The knockout rounds as columns of match cards; `final`: the last round is the final;
    `limit`: the most of each text shown."""
    columns = []
    for number, matches in enumerate(_aligned(rounds), 1):
        label = "Final" if final and number == len(rounds) else f"Round {matches[0].round}"
        cards = "".join(match_card(selection, match, limit=limit) for match in matches)
        columns.append(f'<section class="round"><h3>{label}</h3><div class="cards">{cards}</div></section>')
    return f'<div class="bracket">{"".join(columns)}</div>'


def _aligned(rounds: Sequence[Sequence[Match]]) -> list[list[Match]]:
    """Each round's matches in the order of the matches that fed them, so that a match sits
    beside its feeders (an entrant who had a bye sorts last)."""
    aligned = [list(rounds[0])]
    for matches in rounds[1:]:
        fed = {m.winner: at for at, m in enumerate(aligned[-1])}
        aligned.append(sorted(matches, key=lambda m: min(fed.get(m.a, len(fed)), fed.get(m.b, len(fed)))))
    return aligned


def match_card(selection: Selection, match: Match, *, limit: int) -> str:
    """One match: its two entrants (the winner marked), how it was decided, and its votes."""
    won = dict(zip((match.a, match.b), match.wins, strict=True))
    slots = "".join(_slot(selection, player, won[player], player == match.winner) for player in (match.a, match.b))
    tags = [tag(DECIDED_BY[match.decided_by], warn=match.decided_by not in ("majority", "identical", "same_answer"))]
    forced = sum(v.forced for v in match.votes)
    abstained = sum(v.verdict is None for v in match.votes)
    if forced:
        tags.append(tag(f"{forced} forced at the thinking budget", warn=True))
    if abstained:
        tags.append(tag(f"{abstained} abstained", warn=True))
    votes = ""
    if match.votes:
        listed = "".join(f"<li>{_vote(vote, limit)}</li>" for vote in match.votes)
        summary = f"{len(match.votes)} vote{'s' if len(match.votes) != 1 else ''}: {_orders(match.votes)}"
        votes = f'<details><summary>{escape(summary)}</summary><ol class="vote-list">{listed}</ol></details>'
    return (f'<div class="card match" data-a="{match.a}" data-b="{match.b}" data-winner="{match.winner}">'
            f'{slots}<div class="tags">{"".join(tags)}</div>{votes}</div>')  # fmt: skip


def _slot(selection: Selection, player: int, votes_won: int, winner: bool) -> str:
    answer = ""
    if selection.answers is not None:
        given = selection.answers[player]
        answer = tag("no answer") if given is None else f'<span class="tag">answer {preview(given, 40)}</span>'
    css = "slot winner" if winner else "slot"
    name = preview(selection.candidates[player], 60)
    return (f'<div class="{css}">{seat(player, winner=winner)}<span class="name">{name}</span>'
            f'{answer}<span class="votes-won" title="valid votes won">{votes_won}</span></div>')  # fmt: skip


def _orders(votes: Sequence[Vote]) -> str:
    """Which entrant each vote saw first, counted: "#3 first ×2, #5 first ×1"."""
    counts: dict[int, int] = {}
    for vote in votes:
        counts[vote.first] = counts.get(vote.first, 0) + 1
    return ", ".join(f"#{first} first ×{count}" for first, count in counts.items())


def _vote(vote: Vote, limit: int) -> str:
    """One vote: the order it saw, its verdict, and the judge's reasoning and answer on demand."""
    seen = f"Assistant 1 = #{vote.first}, Assistant 2 = #{vote.second}"
    chose = "abstained" if vote.winner is None else f"chose #{vote.winner} (Assistant {vote.verdict})"
    tags = []
    if vote.forced:
        tags.append(tag(f"forced at {vote.thinking_budget or '?'} thinking tokens", warn=True))
    elif vote.thinking_budget is not None:
        tags.append(tag(f"thinking budget {vote.thinking_budget}"))
    if vote.cached:
        tags.append(tag("from the cache"))
    parts = [f"{escape(seen)} → <b>{escape(chose)}</b> {''.join(tags)}"]
    if vote.reasoning:
        parts.append(expandable("reasoning", vote.reasoning, limit=limit))
    parts.append(expandable("answer", vote.answer, limit=limit))
    return "".join(parts)
