"""The planning model where candidates give final answers (an answer key): selection is right
when the chosen candidate's answer is the right one.

Each candidate gives the right answer with probability `share`, else one of the wrong answers
with the given weights (0.5 : 0.3 : 0.2 by default). A merit vote prefers the right answer of a
right/wrong pair with the judge's merit accuracy (labelled pairs are taken to be right against
wrong), and tosses a coin between two of the same correctness; position bias and abstentions are
as without answers. Besides every setting without answers (now scored by the answer they pick),
two ways use the answers: majority voting (the most frequent answer, ties at random, no judge)
and the answer-aware knockout of `rrm_select.selectors.answer_groups` (no call between two of one
answer, each round pairing across the largest groups, done once one answer is left).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from rrm_select import InvalidArgumentError
from rrm_select.planning.model import Outcome, Simulation
from rrm_select.planning.setting import Setting


class AnswerModel(BaseModel):
    """How often candidates give the right answer, and how the wrong ones split."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    share: float
    wrong: tuple[float, ...] = (0.5, 0.3, 0.2)

    @classmethod
    def checked(cls, share: float, wrong: tuple[float, ...]) -> AnswerModel:
        """The model, once `share` is in (0, 1) and the weights are positive numbers."""
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
            raise InvalidArgumentError(f"answer share must be in (0, 1), got {share!r}")
        if not wrong or any(isinstance(w, bool) or not isinstance(w, int | float) or not w > 0 for w in wrong):
            raise InvalidArgumentError(f"wrong-answer weights must be positive numbers, got {wrong!r}")
        return cls(share=share, wrong=tuple(float(w) for w in wrong))

    def draw(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        """Answer labels (0: the right answer, 1..: the wrong ones)."""
        weights = np.array([self.share, *(np.array(self.wrong) / sum(self.wrong) * (1 - self.share))])
        return rng.choice(len(weights), size=shape, p=weights)


def majority(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per selection, whether the most frequent answer (ties at random) is the right one."""
    counts = np.stack([(labels == k).sum(axis=1) for k in range(labels.max() + 1)], axis=1)
    top = counts == counts.max(axis=1, keepdims=True)
    pick = np.where(top, rng.random(top.shape), -1.0).argmax(axis=1)
    return pick == 0


def aware_knockout(sim: Simulation, setting: Setting, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per selection, whether the answer-aware knockout ends on the right answer (adds its cost
    to `sim`'s totals). Same-answer matches are decided without a call; which of the two goes on
    does not change the answer, so it is not simulated."""
    s = len(labels)
    alive = [list(range(sim.n)) for _ in range(s)]
    while True:
        going = [k for k in range(s) if len({int(labels[k, p]) for p in alive[k]}) > 1]
        if not going:
            break
        pairs = {k: _pair_across(alive[k], labels[k], rng) for k in going}
        cross = [(k, a, b) for k in going for a, b in pairs[k][0] if labels[k, a] != labels[k, b]]
        ks, a, b = (np.array(x, dtype=int) for x in zip(*cross, strict=True)) if cross else (np.zeros(0, int),) * 3
        played = sim.play_flat(setting, sim.quality[ks, a], sim.quality[ks, b], rng)
        winner = dict(zip(zip(ks.tolist(), a.tolist(), b.tolist(), strict=True), np.where(played.a_won, a, b).tolist(), strict=True))
        sim.add(played, ks)
        for k in going:
            round_pairs, bye = pairs[k]
            alive[k] = [winner.get((k, x, y), x) for x, y in round_pairs] + ([bye] if bye is not None else [])
    return np.array([labels[k, alive[k][0]] == 0 for k in range(s)])


def _pair_across(
    players: list[int], labels: np.ndarray, rng: np.random.Generator
) -> tuple[list[tuple[int, int]], int | None]:
    """`answer_groups.pair_across`: the largest group against the next largest, repeatedly; the
    odd one out, from the largest group, sits the round out."""
    groups: dict[int, list[int]] = {}
    for i in rng.permutation(len(players)):
        groups.setdefault(int(labels[players[int(i)]]), []).append(players[int(i)])
    bye = max(groups.values(), key=len).pop() if len(players) % 2 else None
    pairs = []
    while len(live := sorted((g for g in groups.values() if g), key=len, reverse=True)) >= 2:
        pairs.append((live[0].pop(0), live[1].pop(0)))
    leftover = next((g for g in groups.values() if g), [])
    pairs.extend(zip(leftover[::2], leftover[1::2], strict=False))
    return pairs, bye


def run_with_answers(sim: Simulation, setting: Setting) -> Outcome:
    """`Simulation.run` for majority voting and the answer-aware knockout (`sim` has labels)."""
    assert sim.labels is not None
    rng = np.random.default_rng([sim.seed, 1])
    sim.totals = np.zeros((5, sim.selections))
    if setting.method == "majority":
        right = majority(sim.labels, rng)
    else:
        right = aware_knockout(sim, setting, sim.labels, rng)
    return Outcome(right, *sim.totals)
