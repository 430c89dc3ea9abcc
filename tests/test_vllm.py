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
from vllm_support import (
    ENGINE_OPTIONS,
    SERVED_NAME,
    TINY_SERVER_ARGS,
    VLLM_ENV,
    keep_thinking,
    tiny_chat_template,
    tiny_model,
    vllm_server,
)

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
# With a reasoning parser, structured outputs constrain the answer only (after </think>): a 135M
# model will not write a box by itself, even after a forced </think>; this regex makes it.
ANSWER_ONLY = r"\n*\\boxed\{Assistant [12]\}"
BUDGET = 12  # tokens: far less than the 30 to 80 the tiny judge thinks for unconstrained
QUERIES = ["What is 2+2?", "Name the capital of France.", "Is water wet?", "Spell 'cat'."]
CANDIDATES = [["4", "5", "four", "22"], ["Paris", "Lyon", "Rome", "paris"], ["yes", "no", "maybe", "it depends"],
              ["cat", "kat", "c-a-t", "dog"]]  # fmt: skip


@pytest.fixture(scope="session")
def engine() -> Iterator[VLLMJudge]:
    """One in-process engine for the session; tests wrap it in judges with other options."""
    with VLLMJudge(str(tiny_model()), max_tokens=32, disable_log_stats=True, **ENGINE_OPTIONS) as judge:
        yield judge


@pytest.fixture(scope="session")
def thinking_engine() -> Iterator[VLLMJudge]:
    """An engine like an RRM deployment: a reasoning parser (so a reasoning config, which server
    forcing needs, and structured outputs on the answer only)."""
    with VLLMJudge(str(tiny_model()), reasoning_parser="deepseek_r1", disable_log_stats=True, **ENGINE_OPTIONS) as judge:
        yield judge


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    # Like an RRM deployment: the reasoning parser splits off the reasoning (and gives the server
    # its reasoning config); structured outputs constrain the answer only.
    with vllm_server(tiny_model(), *TINY_SERVER_ARGS, "--reasoning-parser", "deepseek_r1") as api_base:
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
            # Raw output is kept, verdict or not; it is empty only when the model ended its turn
            # at once (the tiny judge often does, unless biased against it: see keep_thinking).
            assert vote.answer or vote.reasoning or vote.finish_reason == "stop"


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


def thinking_judge(api_base: str, **options: object) -> LiteLLMJudge:
    """A judge of the tiny model under the thinking budget, its answer a forced verdict."""
    extra_body = {"structured_outputs": {"regex": ANSWER_ONLY}, **keep_thinking()}
    return server_judge(api_base, thinking_budget=BUDGET, extra_body=extra_body, **options)


def test_server_n_votes_in_one_request_with_separate_reasoning(server: str) -> None:
    judge = thinking_judge(server)
    ballot = asyncio.run(judge.ajudge([VoteRequest("What is 2+2?", "4", "5", 3)]))[0]
    assert ballot.requests == 1 and len(ballot.votes) == 3
    for vote in ballot.votes:
        assert vote.verdict in (1, 2) and vote.reasoning and "</think>" not in vote.answer
        assert vote.completion_tokens > 0


@pytest.mark.parametrize("selector", [KnockoutSelector, EloSelector])
def test_server_selections_complete_on_real_output(server: str, selector: type) -> None:
    judge = thinking_judge(server)
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


@pytest.mark.parametrize("forcing", ["server", "client"])
def test_server_budget_gives_every_vote_a_verdict(server: str, forcing: str) -> None:
    judge = thinking_judge(server, forcing=forcing, chat_template=tiny_chat_template(), retry=RetryPolicy(resamples=0))
    result = KnockoutSelector(judge, votes=3, order="per_match", seed=0).select(QUERIES[0], CANDIDATES[0])
    assert result.usage.abstentions == 0 and all(v.verdict is not None for v in result.votes)
    for vote in result.votes:
        assert vote.reasoning and vote.thinking_budget == BUDGET and "</think>" not in vote.answer
    if forcing == "client":  # the judge cut and continued every vote itself
        assert all(v.forced and v.reasoning_tokens == BUDGET for v in result.votes)
        assert result.usage.requests == len(result.matches) * 4  # a start (n=3), three continuations
    assert_consistent(result)


def test_server_without_a_budget_loses_the_votes_at_the_same_max_tokens(server: str) -> None:
    extra_body = {"structured_outputs": {"regex": ANSWER_ONLY}, **keep_thinking()}
    judge = server_judge(server, max_tokens=BUDGET + 16, extra_body=extra_body, retry=RetryPolicy(resamples=0))
    result = KnockoutSelector(judge, votes=3, order="per_match", seed=0).select(QUERIES[0], CANDIDATES[0][:2])
    assert result.usage.abstentions == 3 and {v.finish_reason for v in result.votes} == {"length"}


@pytest.mark.parametrize("forcing", ["server", "client"])
def test_inprocess_budget_gives_every_vote_a_verdict(thinking_engine: VLLMJudge, forcing: str) -> None:
    judge = VLLMJudge(llm=thinking_engine.llm, thinking_budget=BUDGET, forcing=forcing, verdict_regex=ANSWER_ONLY,
                      sampling=keep_thinking(in_process=True), retry=RetryPolicy(resamples=0))  # fmt: skip
    result = KnockoutSelector(judge, votes=2, order="per_match", seed=0).select(QUERIES[3], CANDIDATES[3])
    assert result.usage.abstentions == 0 and result.usage.forced_votes == result.usage.votes == 6
    # vLLM counts the prompt's "\n" after <think> as reasoning; the judge counts output tokens.
    assert all(v.reasoning_tokens in (BUDGET - 1, BUDGET) and v.reasoning for v in result.votes)
    unforced = VLLMJudge(llm=thinking_engine.llm, max_tokens=BUDGET + 16, verdict_regex=ANSWER_ONLY,
                         sampling=keep_thinking(in_process=True), retry=RetryPolicy(resamples=0))  # fmt: skip
    lost = KnockoutSelector(unforced, votes=2, order="per_match", seed=0).select(QUERIES[3], CANDIDATES[3][:2])
    assert lost.usage.abstentions == 2


def test_inprocess_client_forcing_answers_from_the_tokens_it_wrote(thinking_engine: VLLMJudge) -> None:
    judge = VLLMJudge(llm=thinking_engine.llm, thinking_budget=BUDGET, forcing="client", verdict_regex=ANSWER_ONLY,
                      sampling=keep_thinking(in_process=True))  # fmt: skip
    first = thinking_engine.llm.get_tokenizer()
    vote = asyncio.run(judge.ajudge([VoteRequest("What is 2+2?", "4", "5", 1)]))[0].votes[0]
    # The reasoning kept is the budget's worth of tokens, then the close the judge appended.
    assert len(first.encode(vote.reasoning.removesuffix("\n"), add_special_tokens=False)) in (BUDGET - 1, BUDGET, BUDGET + 1)
    assert vote.forced and vote.verdict in (1, 2)


def test_inprocess_a_judge_building_its_engine_gives_it_the_reasoning_config(engine: VLLMJudge) -> None:
    # No reasoning parser here: structured outputs hold over the whole output, and the forced
    # </think> is one the regex allows.
    assert engine.vllm.forcing_modes == {"server", "client"}
    whole = r"[^<]{1,2000}</think>\n\n\\boxed\{Assistant [12]\}"
    judge = VLLMJudge(llm=engine.llm, thinking_budget=BUDGET, verdict_regex=whole, sampling=keep_thinking(in_process=True))
    ballot = asyncio.run(judge.ajudge([VoteRequest("What is 2+2?", "4", "5", 3)]))[0]
    assert all(v.verdict in (1, 2) and v.forced and v.reasoning_tokens == BUDGET - 1 for v in ballot.votes)
