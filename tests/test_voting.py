from __future__ import annotations

import numpy as np
import pytest

from rrm_select import InvalidArgumentError, Vote
from rrm_select.voting import OrderPolicy, check_order_policy, count_orders, decide, vote_orders


def plan_orders(policy: OrderPolicy, votes: int, rng: np.random.Generator) -> dict[bool, int]:
    """Votes per order for one match: the requests it sends when voting all at once."""
    return count_orders(vote_orders(policy, votes, rng))


def vote(first: int, second: int, verdict: int | None) -> Vote:
    return Vote(
        first=first, second=second, verdict=verdict, answer="", reasoning=None, finish_reason="stop", latency_s=0
    )


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8])
def test_plan_counts(k: int) -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert sum(plan_orders("random", k, rng).values()) == k
        per_match = plan_orders("per_match", k, rng)
        assert len(per_match) == 1 and sum(per_match.values()) == k
        alternate = plan_orders("alternate", k, rng)
        assert sorted(alternate.values(), reverse=True) == [c for c in ((k + 1) // 2, k // 2) if c]
        assert plan_orders("both", k, rng) == {False: k, True: k}


def test_random_orders_are_fair_coins() -> None:
    rng = np.random.default_rng(1)
    swapped = sum(plan_orders("random", 1, rng).get(True, 0) for _ in range(4000))
    assert 1800 < swapped < 2200
    firsts = [plan_orders("per_match", 3, rng) for _ in range(2000)]
    assert 900 < sum(True in p for p in firsts) < 1100


def test_unknown_policy() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown order policy 'sideways'"):
        check_order_policy("sideways")


def test_majority_is_mapped_back_through_order() -> None:
    # candidate 7 wins twice: once shown first, once shown second
    votes = [vote(7, 3, 1), vote(3, 7, 2), vote(3, 7, 1)]
    assert decide(votes, 3, 7, coin=True) == (7, "majority")
    assert decide(votes, 7, 3, coin=True) == (7, "majority")


def test_abstentions_do_not_count() -> None:
    votes = [vote(0, 1, None), vote(0, 1, None), vote(1, 0, 1)]
    assert decide(votes, 0, 1, coin=True) == (1, "majority")


def test_ties_and_empty_matches_use_the_coin() -> None:
    tie = [vote(0, 1, 1), vote(0, 1, 2)]
    assert decide(tie, 0, 1, coin=True) == (0, "tie_break")
    assert decide(tie, 0, 1, coin=False) == (1, "tie_break")
    assert decide([vote(0, 1, None)], 0, 1, coin=False) == (1, "no_valid_vote")


@pytest.mark.parametrize("early_stop", ["off", "decided", "confident"])
@pytest.mark.parametrize("order", ["random", "per_match", "alternate", "both"])
@pytest.mark.parametrize("votes", [1, 2, 3, 5])
def test_match_cost_bounds_what_matches_spend_and_is_reached(order: str, votes: int, early_stop: str) -> None:
    import random

    from rrm_select import EloSelector, RetryPolicy, ScriptedJudge, match_cost

    coin = random.Random(0)
    # Votes for either side or none (no resamples: an abstention costs no request of its own).
    judge = ScriptedJudge(lambda query, first, second: coin.choice([1, 2, 2, None]), retry=RetryPolicy(resamples=0))
    selector = EloSelector(judge, votes=votes, order=order, early_stop=early_stop, seed=0)  # type: ignore[arg-type]
    matches = [m for s in selector.select_many(["q"] * 60, [["a", "b", "c", "d"]] * 60) for m in s.matches]
    requests = [m.requests for m in matches]
    cast = [len(m.votes) for m in matches]
    cost = match_cost(order, votes, early_stop)  # type: ignore[arg-type]
    assert (min(requests), max(requests), min(cast), max(cast)) == tuple(cost)
