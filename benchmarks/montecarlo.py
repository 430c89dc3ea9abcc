"""An independent Monte-Carlo model of the tournaments, for the accuracy the suite should measure.

Plain numpy, written from the tournaments' definitions (rrm-protocol.md, the selectors'
docstrings), not from rrm_select's code. The judge is Bernoulli(p): each vote prefers the better
of its two candidates with probability p, independently of everything else; a match goes to the
majority of its k votes, a coin deciding a tie. Only which candidate is better matters, so a
candidate's quality is its rank (n - 1 is the best). Every function simulates `trials`
selections at once and returns the share that picked the best.

- Knockout: a random bracket over 2**ceil(log2 n) slots, the 2**rounds - n byes in distinct
  first-round pairs; winners advance until `finalists` are left.
- Round robin (ELO, and the finalists' stage): every pair plays; the candidate with the most
  votes won is chosen (a random one among equals). In a round robin where every pair gets the
  same number of votes, the Bradley-Terry ratings rank candidates exactly as their totals of
  votes won do, so this is the ELO selector's choice without fitting ratings.
- The thinking judge (`thinking_knockout_accuracy`, for benchmarks/thinking.py): candidates with
  uniform qualities and a vote's accuracy that depends on the pair's gap and the reasoning tokens
  it gets under a thinking budget, written from sim_judge.py's documented curve.
- Answers (`answer_knockout_accuracy`, for benchmarks/answers.py): candidates that carry an
  answer, right or one of a few wrong ones; majority vote, the plain and the answer-aware
  knockout, and the answer-aware knockout with an answer prior, on answer counts.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

EMPTY = -1  # a bye's missing opponent


def knockout_accuracy(n: int, p: float, k: int, trials: int, rng: np.random.Generator, finalists: int = 1) -> float:
    """Knockout down to `finalists` (1: the champion), then a round robin among them."""
    if finalists >= n:
        return round_robin_accuracy(n, p, k, trials, rng)
    slots = _bracket(n, trials, rng)
    while slots.shape[1] > finalists:
        first, second = slots[:, 0::2], slots[:, 1::2]
        first_wins = (second == EMPTY) | (_votes_for_first(first, second, p, k, rng) * 2 + _coin(first, rng) > k)
        slots = np.where(first_wins, first, second)
    return float(np.mean(_round_robin_winner(slots, p, k, rng) == n - 1))


def round_robin_accuracy(n: int, p: float, k: int, trials: int, rng: np.random.Generator) -> float:
    players = rng.permuted(np.tile(np.arange(n), (trials, 1)), axis=1)
    return float(np.mean(_round_robin_winner(players, p, k, rng) == n - 1))


def _bracket(n: int, trials: int, rng: np.random.Generator) -> np.ndarray:
    """First-round slots (trials x 2**rounds): shuffled candidates, EMPTY opposite each bye."""
    size = 2 ** math.ceil(math.log2(n))
    pairs = size // 2
    byes = np.argsort(rng.random((trials, pairs)), axis=1) < size - n  # size - n random pairs per trial
    occupied = np.stack([np.ones_like(byes), ~byes], axis=2).reshape(trials, size)
    slots = np.full((trials, size), EMPTY)
    slots[occupied] = rng.permuted(np.tile(np.arange(n), (trials, 1)), axis=1).ravel()
    return slots


def _votes_for_first(first: np.ndarray, second: np.ndarray, p: float, k: int, rng: np.random.Generator) -> np.ndarray:
    right = rng.binomial(k, p, size=first.shape)  # votes that went to the better candidate
    return np.where(first > second, right, k - right)


def _coin(shape_of: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A tie-break coin, added to twice the votes: it only matters when they are exactly k."""
    return rng.integers(0, 2, size=shape_of.shape)


def _round_robin_winner(players: np.ndarray, p: float, k: int, rng: np.random.Generator) -> np.ndarray:
    """Per trial, the player (a rank) with the most votes won over all pairs of `players`."""
    won = np.zeros(players.shape)
    for i, j in itertools.combinations(range(players.shape[1]), 2):
        votes = _votes_for_first(players[:, i], players[:, j], p, k, rng)
        won[:, i] += votes
        won[:, j] += k - votes
    # Vote totals are whole numbers, so a uniform draw in [0, 1) only reorders equal totals.
    best = np.argmax(won + rng.random(won.shape), axis=1)
    return players[np.arange(len(players)), best]


# The thinking judge of benchmarks/sim_judge.py (Profile(thinking=True)), from its documented
# definition: each vote reasons for L tokens, L = max(2, round(median(gap) e^(sigma z))) with
# median(gap) = far + (close - far) e^(-gap / width); it gets t = min(L, budget) tokens and is right
# with probability lapse + (1 - 2 lapse) / (1 + exp(-skill (t / 1024)^growth gap)). Candidates'
# qualities are uniform in [0, 1], so which one is best and how close each pair is both matter.


def thinking_right(
    gap: np.ndarray, budget: int | None, model: dict[str, float], rng: np.random.Generator
) -> np.ndarray:
    """Whether one vote per pair (gaps `gap`) at thinking budget `budget` (None: none) is right."""
    far, close = model["length_far"], model["length_close"]
    median = far + (close - far) * np.exp(-gap / model["length_width"])
    length = np.maximum(2, np.round(median * np.exp(model["length_sigma"] * rng.standard_normal(gap.shape))))
    tokens = length if budget is None else np.minimum(length, budget)
    beta = model["skill"] * (tokens / 1024) ** model["skill_growth"]
    p = model["lapse"] + (1 - 2 * model["lapse"]) / (1 + np.exp(-beta * gap))
    return rng.random(gap.shape) < p


def thinking_knockout_accuracy(
    n: int, budgets: list[int | None], model: dict[str, float], trials: int, rng: np.random.Generator
) -> float:
    """A knockout whose matches each take len(budgets) votes, vote i at thinking budget budgets[i]
    (an odd count: the majority decides, no coin). Escalation with early_stop="decided" plays the
    first wave (votes // 2 + 1) at the short budget and every later one at the long budget, and
    stops only once the majority cannot change: its winner is that of all `votes` votes with the
    first wave's at the short budget and the rest at the long one, so the same call models it."""
    qualities = rng.random((trials, n))
    slots = _bracket(n, trials, rng)
    while slots.shape[1] > 1:
        first, second = slots[:, 0::2], slots[:, 1::2]
        qa = np.take_along_axis(qualities, np.maximum(first, 0), axis=1)
        qb = np.take_along_axis(qualities, np.maximum(second, 0), axis=1)
        gap = np.abs(qa - qb)
        right = sum(thinking_right(gap, budget, model, rng).astype(int) for budget in budgets)
        votes_first = np.where(qa > qb, right, len(budgets) - right)
        first_wins = (second == EMPTY) | (votes_first * 2 + _coin(first, rng) > len(budgets))
        slots = np.where(first_wins, first, second)
    return float(np.mean(slots[:, 0] == np.argmax(qualities, axis=1)))


def thinking_vote_accuracy(
    budget: int | None, model: dict[str, float], trials: int, rng: np.random.Generator
) -> float:
    """The share of single votes right on pairs of uniform qualities at `budget`."""
    gap = np.abs(rng.random(trials) - rng.random(trials))
    return float(np.mean(thinking_right(gap, budget, model, rng)))


# Answer-aware selection (benchmarks/answers.py), from the definitions of issue 15 and the
# docstring of rrm_select/selectors/answer_groups.py. Each candidate carries an answer: group 0
# (the right answer) with probability r, else wrong group g (1..len(wrong_weights)) with
# probability (1 - r) * wrong_weights[g - 1] / sum(wrong_weights). A vote between a right and a
# wrong candidate goes to the right one with probability p; between two right or two wrong ones it
# is a coin. Only the answers matter, so the answer-aware knockout is simulated on the counts of
# each answer still in the running, not on individual candidates.


def answer_fields(
    n: int, r: float, wrong_weights: tuple[float, ...], trials: int, rng: np.random.Generator
) -> np.ndarray:
    """Each candidate's answer group (trials x n): 0 the right answer, 1.. the wrong ones."""
    weights = np.asarray(wrong_weights, float)
    probs = np.concatenate([[r], (1 - r) * weights / weights.sum()])
    return rng.choice(len(probs), size=(trials, n), p=probs)


def answer_knockout_accuracy(
    n: int,
    p: float,
    r: float,
    wrong_weights: tuple[float, ...],
    trials: int,
    rng: np.random.Generator,
    priors: tuple[float, ...] = (),
) -> dict[str, float]:
    """The share of selections whose final answer is right, on the same `trials` fields, for:
    "oracle" (some candidate is right), "majority" (the most frequent answer, a random one among
    equals), "plain" (a knockout that ignores answers), "aware" (the answer-aware knockout) and
    "prior=W" for each W in `priors` (the answer-aware knockout whose match decision adds
    W * log(count_a / count_b) to the vote margin, +1 or -1; the vote decides a tie); with
    "aware_calls" and "prior=W calls", the mean judged matches (the plain knockout's: n - 1)."""
    labels = answer_fields(n, r, wrong_weights, trials, rng)
    groups = len(wrong_weights) + 1
    counts = np.stack([(labels == g).sum(axis=1) for g in range(groups)], axis=1)
    out = {"oracle": float(np.mean(counts[:, 0] > 0))}
    majority = np.argmax(counts + rng.random(counts.shape), axis=1)  # whole counts: the draw breaks ties only
    out["majority"] = float(np.mean(majority == 0))
    out["plain"] = _plain_answer_knockout(labels, p, rng)
    for weight in (0.0, *priors):
        right, calls = _aware_knockout(counts, p, weight, rng)
        name = "aware" if weight == 0.0 else f"prior={weight:g}"
        out[name] = right
        out["aware_calls" if weight == 0.0 else f"{name} calls"] = calls
    return out


def _plain_answer_knockout(labels: np.ndarray, p: float, rng: np.random.Generator) -> float:
    """A knockout over the candidates that never looks at answers: only who is right matters."""
    trials, n = labels.shape
    slots = _bracket(n, trials, rng)
    right = np.where(slots == EMPTY, EMPTY, np.take_along_axis(labels == 0, np.maximum(slots, 0), axis=1))
    while right.shape[1] > 1:
        first, second = right[:, 0::2], right[:, 1::2]
        to_right = rng.random(first.shape) < p  # the vote, where exactly one of the two is right
        coin = rng.random(first.shape) < 0.5
        first_wins = np.where(first == second, coin, np.where(first == 1, to_right, ~to_right))
        right = np.where((second == EMPTY) | first_wins, first, second)
    return float(np.mean(right[:, 0] == 1))


def _aware_knockout(counts: np.ndarray, p: float, weight: float, rng: np.random.Generator) -> tuple[float, float]:
    """The answer-aware knockout on answer counts (trials x groups): each round, one of the largest
    group sits out if the field is odd, then one of the largest group meets one of the next largest
    (equal sizes in random order) until one group is left, whose members meet each other without
    a call (one of each pair goes on); it stops once one answer is left. Returns the share whose
    last answer is right and the mean judged matches."""
    trials, groups = counts.shape
    size = np.maximum(counts, 1).astype(float)  # each answer's candidates, for the prior (>= 1: no log of 0)
    alive = counts.copy()
    calls = np.zeros(trials)
    rows = np.arange(trials)
    while True:
        playing = (alive > 0).sum(axis=1) > 1  # more than one answer left
        if not playing.any():
            break
        order = rng.random((trials, groups))  # a round's order among groups of equal size
        bye = np.zeros_like(alive)
        odd = playing & (alive.sum(axis=1) % 2 == 1)
        largest = np.argmax(alive * groups + order, axis=1)  # the largest group, ties by `order`
        bye[rows[odd], largest[odd]] = 1
        rest = alive - bye
        nxt = bye.copy()
        while True:
            pairing = playing & ((rest > 0).sum(axis=1) > 1)
            if not pairing.any():
                break
            rank = np.argsort(-(rest * groups + order), axis=1)  # largest first, ties by `order`
            a, b = rank[:, 0], rank[:, 1]
            favoured = np.where(a == 0, 1.0, np.where(b == 0, 0.0, 0.5))  # P(the vote goes to a)
            to_a = np.where(favoured == 0.5, rng.random(trials) < 0.5, rng.random(trials) < np.where(a == 0, p, 1 - p))
            lean = np.where(to_a, 1.0, -1.0) + weight * np.log(size[rows, a] / size[rows, b])
            a_wins = np.where(lean == 0, to_a, lean > 0)
            winner = np.where(a_wins, a, b)
            idx = rows[pairing]
            rest[idx, a[pairing]] -= 1
            rest[idx, b[pairing]] -= 1
            nxt[idx, winner[pairing]] += 1
            calls[pairing] += 1
        nxt += np.where(playing[:, None], rest // 2, 0)  # one answer left over: pairs decided without a call
        alive = np.where(playing[:, None], nxt, alive)
    return float(np.mean(alive[:, 0] > 0)), float(calls.mean())
