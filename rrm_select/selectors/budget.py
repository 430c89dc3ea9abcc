"""A selection's limits on the judge: how many calls it may still make, planned over its
matches, and how many tokens it may still spend."""

from __future__ import annotations

from collections.abc import Iterable

from rrm_select.types import Vote


class CallBudget:
    """Judge calls a selection may still make: every prompt sent counts (first attempts, top-ups,
    resamples, hedges); transport retries of failed requests are bounded by
    `RetryPolicy.max_attempts` instead, since a failed request gave nothing to pay for.

    Shared by the concurrent matches of one selection; None means unlimited.

    With `plan`, calls are held back for the matches not started yet, so that the first matches
    (a knockout's first round, say) cannot spend what the later ones need for their first request.
    """

    def __init__(self, limit: int | None) -> None:
        self.left = limit
        self.refused = False
        """Whether a call was ever refused (the selection then stopped early)."""
        self._held = 0
        self._unstarted = 0
        self._floor = 1

    def plan(self, matches: int, floor: int) -> None:
        """Hold back `floor` calls (a match's cheapest first wave) for each of `matches` matches,
        when the budget covers them all; otherwise matches are paid in the order they start."""
        self._floor = floor
        if self.left is not None and self.left >= matches * floor:
            self._held, self._unstarted = matches * floor, matches

    def start_match(self) -> int | None:
        """A match begins: its held calls are freed. Returns how many calls its first wave may
        take (None: any number). Beyond its floor it gets a share of the surplus no larger than
        every match still to come could get, so spare calls go to the later (deciding) rounds."""
        if self.left is None:
            return None
        if not self._unstarted:  # nothing held: what is left, if it pays for a first wave
            return self.left if self.left >= self._floor else 0
        self._unstarted -= 1
        self._held -= self._floor
        surplus = self.left - self._held - self._floor
        return self._floor + surplus // (self._unstarted + 1)

    def take(self, calls: int) -> bool:
        """Spend `calls` if all of them fit beside the held calls; otherwise spend nothing and say no."""
        if self.left is None:
            return True
        if calls > self.left - self._held:
            self.refused = True
            return False
        self.left -= calls
        return True


class TokenBudget:
    """Judge tokens (prompt and completion) a selection has spent, against its `token_budget`.

    Shared by the concurrent matches of one selection and asked before each wave: waves already
    out when it runs out still come back and count, so a selection may end slightly above it.
    Only `paid` votes count, as in `Usage`. None means unlimited."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.spent = 0

    def spend(self, votes: Iterable[Vote]) -> None:
        """Count the tokens of votes that came back."""
        self.spent += sum(v.prompt_tokens + v.completion_tokens for v in paid(votes))

    @property
    def exhausted(self) -> bool:
        """Whether no further wave may start."""
        return self.limit is not None and self.spent >= self.limit


def paid(votes: Iterable[Vote]) -> list[Vote]:
    """The votes a selection paid for now: those served by the cache were paid for earlier."""
    return [v for v in votes if not v.cached]
