"""The calibration report: what a judge's votes on labelled pairs say about it, as JSON data.

Accuracies score a vote for the chosen answer 1, for the rejected one 0 and an abstention 0.5.
Their intervals are Wilson score intervals at 95% with n = the number of pairs: the votes on one
pair are not independent draws, so counting pairs rather than votes keeps the interval from
being too narrow when there are several votes per pair.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from rrm_select import OrderPolicy


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Interval(_Record):
    """An estimated share and its 95% Wilson score interval."""

    estimate: float
    low: float
    high: float


class Spread(_Record):
    """A per-vote quantity over the votes: median, 90th percentile and mean (None: no vote has it)."""

    median: float | None = None
    p90: float | None = None
    mean: float | None = None


class Figures(_Record):
    """The figures of one group of pairs (all of them, or one subset)."""

    pairs: int
    votes: int
    reference: Interval
    """Each pair's first vote in a seeded random order, its first sample only (no resampling),
    an abstention scored 0.5: how the RRM paper scores RewardBench."""
    single_vote: Interval
    """Every vote scored on its own (after the judge's resampling, if any)."""
    majority: Interval
    """Each pair decided by the majority of its votes; a tie or no valid vote scores 0.5."""
    both_orders: Interval | None = None
    """Each pair judged in both orders: the mean of its reference vote and the first vote in the
    other order, each scored as the reference is (first sample, abstention 0.5). None in reports
    written before it."""
    order_agreement: float | None = None
    """Share of pairs whose two both-orders votes have a verdict and prefer the same answer (a
    judge voting by position alone agrees on none). None in reports written before it."""
    position_bias: float | None
    """Share of valid votes for Assistant 1 (the answer shown first); 0.5 is unbiased."""
    flip_rate: float | None
    """Of the pairs of valid votes on one pair that saw opposite orders, the share preferring
    different answers; None when no pair was seen in both orders."""
    order_pairs: int
    abstention_rate: float
    """Share of votes without a verdict."""
    first_sample_abstention_rate: float
    """Share of votes whose first sample had no verdict (the reference's abstentions)."""
    forced_rate: float
    """Share of votes whose reasoning was closed at the thinking budget (`Vote.forced`)."""
    cached_votes: int
    prompt_tokens: Spread
    completion_tokens: Spread
    """Completion tokens per vote, reasoning included (resampled samples included)."""
    latency_s: Spread


class CalibrationReport(_Record):
    """A judge measured on labelled pairs: overall and per subset (pairs without a subset count
    in `overall` only)."""

    judge: str
    votes: int
    """Votes per pair and order (`order="both"` takes each in both orders)."""
    order: OrderPolicy
    seed: int
    resamples: int
    """The judge's resampling of unparseable votes (the reference never uses it)."""
    thinking_budget: int | None = None
    """The reasoning tokens per vote the judge's votes had (`Judge.thinking_budget`); None: no
    budget (and in reports written before it was recorded)."""
    rejected: int
    """Rows left out: not a valid pair, or refused by the judge."""
    overall: Figures
    subsets: dict[str, Figures]

    def table(self) -> str:
        """The figures as a readable table, overall first."""
        head = (f"{'subset':<16} {'pairs':>5} {'reference':>19} {'both orders':>19} {'agree':>5} {'single vote':>19} "
                f"{f'majority of {self.votes}':>19} {'A1 bias':>7} {'flips':>6} {'abstain':>7} {'forced':>6} "
                f"{'tokens med/p90':>15} {'latency s med/p90':>18}")  # fmt: skip
        rows = [head, *(_row(name, f) for name, f in [("overall", self.overall), *sorted(self.subsets.items())])]
        budget = "" if self.thinking_budget is None else f", thinking budget {self.thinking_budget}"
        notes = (f"judge {self.judge}{budget}; {self.votes} vote(s) per pair, order {self.order}, seed {self.seed}, "
                 f"resamples {self.resamples}; {self.rejected} row(s) rejected")  # fmt: skip
        return "\n".join([*rows, "", notes, "accuracy: estimate [95% Wilson interval over pairs]; abstention = 0.5",
                          "both orders: the reference vote and one vote in the other order (asked for beside the "
                          "votes where the order policy gave none; it counts in no other column); agree: the share "
                          "of pairs whose two both-orders votes prefer the same answer"])  # fmt: skip


def _row(name: str, f: Figures) -> str:
    both = "-" if f.both_orders is None else _interval(f.both_orders)
    return (f"{name[:16]:<16} {f.pairs:>5} {_interval(f.reference):>19} {both:>19} {_share(f.order_agreement):>5} "
            f"{_interval(f.single_vote):>19} "
            f"{_interval(f.majority):>19} {_share(f.position_bias):>7} {_share(f.flip_rate):>6} "
            f"{_share(f.abstention_rate):>7} {_share(f.forced_rate):>6} {_spread(f.completion_tokens, '.0f'):>15} "
            f"{_spread(f.latency_s, '.2f'):>18}")  # fmt: skip


def _interval(i: Interval) -> str:
    return f"{i.estimate:.3f} [{i.low:.2f},{i.high:.2f}]"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _spread(s: Spread, spec: str) -> str:
    return "-" if s.median is None or s.p90 is None else f"{s.median:{spec}}/{s.p90:{spec}}"
