"""One simulated match, vote by vote, as `Tournament.play` plays it (vectorised over matches).

Each vote slot's order is drawn by the order policy (``random``: a coin per vote; ``alternate``:
a coin, then alternating; ``both``: both orders). Waves are as `rrm_select.voting.next_wave`
says, read from a table of its own answers: early stop, and with escalation (a setting's
`thinking_budgets`) the first wave at the first budget and, after each wave that leaves the
match contested (`rrm_select.voting.contested`: valid votes split, or any abstention), the next
budget. A vote follows the judge of its wave's budget (`levels`): its abstention rate, position
bias and merit accuracy, its tokens and its latency. The match goes to the candidate with more
valid votes (a tie, or no valid vote, to a coin).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rrm_select import EarlyStop
from rrm_select.planning.judge import JudgeFigures
from rrm_select.planning.setting import Setting
from rrm_select.voting import next_wave


@dataclass
class Played:
    """What matches did, one cell each."""

    a_won: np.ndarray
    a_votes: np.ndarray
    b_votes: np.ndarray
    requests: np.ndarray
    votes: np.ndarray
    waves: np.ndarray
    tokens: np.ndarray
    latency: np.ndarray
    """Seconds of judging: each wave's latency per vote at its budget (0 where unknown)."""


UNMODELLED_CONFIDENCE = 0.95
"""`next_wave`'s confidence, which only early stop ``"confident"`` reads; the planner refuses
that setting, so the value never matters."""


def slots_per_vote(setting: Setting) -> int:
    """Votes each vote slot casts: two under ``order="both"`` (one per order), else one."""
    return 2 if setting.order == "both" else 1


@functools.cache
def wave_table(votes: int, per_slot: int, early_stop: EarlyStop, escalating: bool) -> np.ndarray:
    """``table[lead, trail, cast]``: the slots of the next wave (`next_wave`; 0: over)."""
    most = votes * per_slot
    table = np.zeros((most + 1, most + 1, votes + 1), dtype=int)
    for lead in range(most + 1):
        for trail in range(lead + 1):
            for cast in range(votes + 1):
                size = next_wave(lead, trail, cast, votes, per_slot, early_stop, UNMODELLED_CONFIDENCE, escalating)
                table[lead, trail, cast] = size
    return table


def play_votes(
    levels: Sequence[JudgeFigures],
    setting: Setting,
    qa: np.ndarray,
    qb: np.ndarray,
    rng: np.random.Generator,
    accuracies: Sequence[np.ndarray],
) -> Played:
    """Matches between qualities `qa` and `qb` (flat arrays). `levels`: the judge at each budget
    a wave can take (one: no escalation); `accuracies`: each pair's merit accuracy under each."""
    m, k = len(qa), setting.votes
    per_slot = slots_per_vote(setting)
    if setting.order == "both":
        swapped = np.broadcast_to(np.array([False, True]), (m, k, 2))
    elif setting.order == "alternate":
        swapped = ((rng.random((m, 1)) < 0.5) ^ (np.arange(k) % 2 == 1))[:, :, None]
    else:
        swapped = rng.random((m, k, 1)) < 0.5
    draws = rng.random((len(levels), 3, m, k, per_slot))  # one level: the same stream as one (3, ...) draw
    for_a, for_b, abstained = [], [], []
    for judge, accuracy, (u_abstain, u_position, u_merit) in zip(levels, accuracies, draws, strict=True):
        abstains = u_abstain < judge.abstain
        positional = u_position < judge.positional
        right = u_merit < accuracy[:, None, None]
        votes_a = np.where(positional, ~swapped == (judge.bias >= 0.5), right == (qa > qb)[:, None, None])
        for_a.append((~abstains & votes_a).sum(axis=2))
        for_b.append((~abstains & ~votes_a).sum(axis=2))
        abstained.append(abstains.any(axis=2))
    fa, fb, ab = np.stack(for_a), np.stack(for_b), np.stack(abstained)  # (levels, m, k)
    tokens_at = np.array([j.tokens_per_vote for j in levels])
    latency_at = np.array([j.latency_per_vote or 0.0 for j in levels])
    escalating = len(levels) > 1
    table = wave_table(k, per_slot, setting.early_stop, escalating)
    first_swapped = np.concatenate([np.zeros((m, 1)), np.cumsum(swapped[:, :, 0], axis=1)], axis=1)
    rows, slot = np.arange(m), np.arange(k)
    a_now, b_now, cast, step = (np.zeros(m, dtype=int) for _ in range(4))
    doubt = np.zeros(m, dtype=bool)  # some vote so far abstained
    requests, waves, tokens, latency = (np.zeros(m) for _ in range(4))
    while (size := table[np.maximum(a_now, b_now), np.minimum(a_now, b_now), cast]).any():
        in_wave = (slot >= cast[:, None]) & (slot < (cast + size)[:, None])
        a_now = a_now + (fa[step, rows] * in_wave).sum(axis=1)
        b_now = b_now + (fb[step, rows] * in_wave).sum(axis=1)
        doubt |= (ab[step, rows] & in_wave).any(axis=1)
        if per_slot == 2:
            requests += np.where(size > 0, 2, 0)
        else:
            shown = first_swapped[rows, cast + size] - first_swapped[rows, cast]
            requests += (shown > 0).astype(float) + (shown < size)
        waves += size > 0
        tokens += size * per_slot * tokens_at[step]
        latency += np.where(size > 0, latency_at[step], 0.0)
        cast = cast + size
        if escalating:  # as `contested`: the next wave takes the next budget
            step = np.where(doubt | ((a_now > 0) & (b_now > 0)), np.minimum(step + 1, len(levels) - 1), step)
    coin = rng.random(m) < 0.5
    a_won = (a_now > b_now) | ((a_now == b_now) & coin)
    return Played(a_won, a_now, b_now, requests, cast * float(per_slot), waves, tokens, latency)
