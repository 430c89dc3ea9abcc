"""Real vLLM (CPU build) with the packaged tiny model: in-process and as an OpenAI server.

The tiny model is no RRM. Unconstrained, it rarely ends with a verdict, which exercises
resampling and abstentions on real output; with a verdict regex (vLLM structured outputs) its
votes are well formed, which exercises the full selection path.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
from vllm_support import ENGINE_OPTIONS, SERVED_NAME, TINY_SERVER_ARGS, VLLM_ENV, tiny_model, vllm_server

from rrm_select import (
    EloSelector,
    InvalidArgumentError,
    JudgeRejectedError,
    KnockoutSelector,
    LiteLLMJudge,
    RetryPolicy,
    RRMFormat,
    Selection,
    VLLMJudge,
)
from rrm_select import VoteRequest

os.environ.update(VLLM_ENV)
FORCED = RRMFormat().verdict_regex(40)
QUERIES = ["What is 2+2?", "Name the capital of France.", "Is water wet?", "Spell 'cat'."]
CANDIDATES = [["4", "5", "four", "22"], ["Paris", "Lyon", "Rome", "paris"], ["yes", "no", "maybe", "it depends"],
              ["cat", "kat", "c-a-t", "dog"]]  # fmt: skip


@pytest.fixture(scope="session")
def engine() -> Iterator[VLLMJudge]:
    """One in-process engine for the session; tests wrap it in judges with other options."""
    with VLLMJudge(str(tiny_model()), max_tokens=32, disable_log_stats=True, **ENGINE_OPTIONS) as judge:
        yield judge


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    # Like an RRM deployment: the reasoning parser splits off the reasoning; structured outputs
    # must then be enabled inside the reasoning for the regex to hold over the whole output.
    extra = ("--reasoning-parser", "deepseek_r1", "--structured-outputs-config", '{"enable_in_reasoning": true}')
    with vllm_server(tiny_model(), *TINY_SERVER_ARGS, *extra) as api_base:
        yield api_base


def forced(engine: VLLMJudge) -> VLLMJudge:
    return VLLMJudge(llm=engine.llm, max_tokens=96, verdict_regex=FORCED)  # room for the longest forced output


def assert_consistent(result: Selection) -> None:
    """Every match decision follows from its votes, whatever the model said."""
    for match in result.matches:
        wins_a, wins_b = match.wins
        if wins_a == wins_b:
            assert match.decided_by == ("no_valid_vote" if wins_a == 0 else "tie_break")
        else:
            assert match.decided_by == "majority" and match.winner == (match.a if wins_a > wins_b else match.b)
        for vote in match.votes:
            assert vote.answer or vote.reasoning  # raw output is kept, verdict or not


def test_inprocess_step_is_one_batch_across_selections(engine: VLLMJudge) -> None:
    judge = forced(engine)
    results = EloSelector(judge, votes=3, order="per_match", seed=0).select_many(QUERIES, CANDIDATES)
    # first step: every match of every selection (4 queries x 6 pairs), one prompt each with n=3
    assert judge.batch_sizes[0] == 4 * 6
    assert sum(judge.batch_sizes) == sum(r.usage.requests for r in results)
    for result in results:
        assert len(result.matches) == 6 and all(len(m.votes) == 3 for m in result.matches)
        assert all(v.verdict in (1, 2) and v.finish_reason == "stop" for v in result.votes)
        assert result.usage.completion_tokens > 0 and result.usage.prompt_tokens > 0
        assert_consistent(result)


def test_inprocess_knockout_rounds_batch_across_selections(engine: VLLMJudge) -> None:
    judge = forced(engine)
    results = KnockoutSelector(judge, votes=1, seed=1).select_many(QUERIES, CANDIDATES)
    assert all(len(r.matches) == 3 for r in results)
    assert judge.batch_sizes[:2] == [4 * 2, 4 * 1]  # semi-finals of all four, then all finals


def test_inprocess_reasoning_is_split_like_a_server(engine: VLLMJudge) -> None:
    vote = asyncio.run(forced(engine).ajudge([VoteRequest("q", "yes", "no", 1)]))[0].votes[0]
    assert vote.reasoning is not None and "</think>" not in vote.answer + vote.reasoning
    assert vote.answer in ("\n\n\\boxed{Assistant 1}", "\n\n\\boxed{Assistant 2}")


def test_inprocess_unparseable_output_is_resampled_then_abstains(engine: VLLMJudge) -> None:
    judge = VLLMJudge(llm=engine.llm, max_tokens=24, retry=RetryPolicy(resamples=1))
    result = KnockoutSelector(judge, votes=2, seed=0).select(QUERIES[0], CANDIDATES[0][:3])
    assert len(result.matches) == 2
    assert_consistent(result)
    for vote in result.votes:
        if vote.verdict is None:
            assert len(vote.discarded) == 1 and vote.finish_reason in ("length", "stop")
    assert result.usage.abstentions == sum(v.verdict is None for v in result.votes)
    assert result.usage.resamples == sum(len(v.discarded) for v in result.votes)


def test_inprocess_prompt_too_long_fails_only_its_selection(engine: VLLMJudge) -> None:
    judge = forced(engine)

    async def both() -> list[object]:
        selector = KnockoutSelector(judge, seed=0)
        too_long = selector.aselect("q", ["word " * 3000, "short"])
        return await asyncio.gather(too_long, selector.aselect("q", ["a", "b"]), return_exceptions=True)

    failed, fine = asyncio.run(both())
    assert isinstance(failed, JudgeRejectedError) and "maximum context length" in str(failed)
    assert isinstance(fine, Selection) and fine.votes[0].verdict is not None
    assert judge.batch_sizes[0] == 2  # they shared a batch, then were retried one by one


def test_vllm_judge_arguments(engine: VLLMJudge) -> None:
    with pytest.raises(InvalidArgumentError, match="exactly one of model="):
        VLLMJudge()
    with pytest.raises(InvalidArgumentError, match="exactly one of model="):
        VLLMJudge("m", llm=engine.llm)
    with pytest.raises(InvalidArgumentError, match="need model="):
        VLLMJudge(llm=engine.llm, dtype="float32")
    assert VLLMJudge(llm=engine.llm).model == engine.model


def server_judge(api_base: str, **options: object) -> LiteLLMJudge:
    options.setdefault("max_tokens", 96)
    return LiteLLMJudge(f"hosted_vllm/{SERVED_NAME}", api_base=api_base, api_key="EMPTY", **options)


def test_server_n_votes_in_one_request_with_separate_reasoning(server: str) -> None:
    judge = server_judge(server, extra_body={"structured_outputs": {"regex": FORCED}})
    ballot = asyncio.run(judge.ajudge([VoteRequest("What is 2+2?", "4", "5", 3)]))[0]
    assert ballot.requests == 1 and len(ballot.votes) == 3
    for vote in ballot.votes:
        assert vote.verdict in (1, 2) and vote.reasoning and "</think>" not in vote.answer
        assert vote.completion_tokens > 0


@pytest.mark.parametrize("selector", [KnockoutSelector, EloSelector])
def test_server_selections_complete_on_real_output(server: str, selector: type) -> None:
    judge = server_judge(server, extra_body={"structured_outputs": {"regex": FORCED}})
    result = selector(judge, votes=3, order="per_match", seed=0).select(QUERIES[1], CANDIDATES[1])
    assert len(result.matches) == (3 if selector is KnockoutSelector else 6)
    assert result.usage.requests == len(result.matches)  # one request (n=3) per match
    assert all(v.verdict is not None for v in result.votes)
    assert_consistent(result)


def test_server_unconstrained_tiny_model_abstains_as_designed(server: str) -> None:
    judge = server_judge(server, max_tokens=24, retry=RetryPolicy(resamples=1))
    result = KnockoutSelector(judge, seed=0).select(QUERIES[2], CANDIDATES[2][:2])
    assert_consistent(result)
    for vote in result.votes:
        if vote.verdict is None:  # with the parser, an unfinished thought is all reasoning
            assert vote.reasoning and len(vote.discarded) == 1


def test_server_rejects_a_token_budget_beyond_the_context(server: str) -> None:
    with pytest.raises(JudgeRejectedError) as info:
        KnockoutSelector(server_judge(server, max_tokens=8192), seed=0).select("q", ["a", "b"])
    assert "BadRequest" in str(info.value) or "ContextWindow" in str(info.value)
    assert server in str(info.value)
