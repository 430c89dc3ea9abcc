"""Calibration against a fake judge server on loopback (real HTTP), with judges of known behaviour."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import by_quality, prefer_quality
from fake_openai import Choice, FakeOpenAIServer, Reply, prompt_query, prompt_text, rrm_choice

from rrm_select import HTTPJudge, JudgeUnavailableError, RetryPolicy, acalibrate, calibrate
from rrm_select.calibration import CalibrationReport
from rrm_select.cli import main


def make_pairs(count: int, subsets: tuple[str, ...] = ("math", "facts")) -> list[dict[str, Any]]:
    return [
        {"id": f"p{i}", "subset": subsets[i % len(subsets)], "prompt": f"{subsets[i % len(subsets)]} question {i}",
         "chosen": f"good answer {i}, quality 9", "rejected": f"poor answer {i}, quality 1"}
        for i in range(count)
    ]  # fmt: skip


def votes(choose: Callable[[dict[str, Any], int], Choice]) -> Callable[[dict[str, Any]], Reply]:
    """A server script: vote `i` of a request is `choose(body, i)`."""
    return lambda body: Reply(choices=[choose(body, i) for i in range(body.get("n", 1))])


ALWAYS_FIRST = votes(lambda body, i: rrm_choice(1))
NO_VERDICT = votes(lambda body, i: Choice(content="I cannot decide."))


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[dict[str, Any]], Reply]], FakeOpenAIServer]]:
    servers: list[FakeOpenAIServer] = []

    def start(script: Callable[[dict[str, Any]], Reply]) -> FakeOpenAIServer:
        servers.append(FakeOpenAIServer(script).__enter__())
        return servers[-1]

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def judge_of(server: FakeOpenAIServer, resamples: int = 0) -> HTTPJudge:
    return HTTPJudge("judge", api_base=server.api_base, retry=RetryPolicy(resamples=resamples))


def test_a_perfect_judge_scores_one_everywhere(serve) -> None:
    report = calibrate(make_pairs(20), judge_of(serve(prefer_quality)), votes=3)
    for figures in (report.overall, *report.subsets.values()):
        assert figures.reference.estimate == figures.single_vote.estimate == figures.majority.estimate == 1.0
        assert figures.both_orders == figures.reference and figures.order_agreement == 1.0
        assert figures.abstention_rate == 0 and figures.votes == 3 * figures.pairs
    assert report.overall.reference.high == 1.0 and 0.8 < report.overall.reference.low < 1.0  # Wilson, n = 20
    assert json.loads(report.model_dump_json())["overall"]["pairs"] == 20  # JSON-serialisable
    assert CalibrationReport.model_validate_json(report.model_dump_json()) == report


def test_a_judge_always_for_assistant_1_is_all_position_bias(serve) -> None:
    server = serve(ALWAYS_FIRST)
    report = calibrate(make_pairs(200), judge_of(server), seed=3)
    overall = report.overall
    assert overall.position_bias == 1.0
    # Its reference vote is right exactly when the seeded coin showed the chosen answer first:
    # Binomial(200, 1/2) / 200 has a standard deviation of 0.035; 0.15 is over four of them.
    assert abs(overall.reference.estimate - 0.5) < 0.15
    assert overall.reference.low < 0.5 < overall.reference.high
    # Per pair: its vote, and the both-orders vote in the other order (in no other figure).
    assert len(server.requests) == 2 * 200 and overall.votes == 200
    assert overall.both_orders is not None and overall.both_orders.estimate == 0.5 and overall.order_agreement == 0
    asked = len(server.requests)
    both = calibrate(make_pairs(10), judge_of(server), votes=2, order="both")
    assert len(server.requests) - asked == 10 * 2  # both orders already: no vote more
    assert both.overall.flip_rate == 1.0 and both.overall.order_pairs == 10 * 2 * 2
    assert both.overall.single_vote.estimate == 0.5 and both.overall.majority.estimate == 0.5
    assert both.overall.both_orders == both.overall.single_vote and both.overall.order_agreement == 0


def test_the_both_orders_vote_stays_out_of_the_other_figures(serve) -> None:
    # Right whenever the chosen answer is shown first, Assistant 1 otherwise: every vote in the
    # reference's order is right exactly when the other order's vote is wrong.
    script = votes(lambda body, i: rrm_choice(1))
    report = calibrate(make_pairs(40), judge_of(serve(script)), votes=3, order="per_match", seed=1)
    overall = report.overall
    assert overall.votes == 3 * 40 and overall.single_vote == overall.reference == overall.majority
    assert overall.both_orders is not None and overall.both_orders.estimate == 0.5
    assert overall.reference.estimate != 0.5  # the seeded coins did not split 20/20 here
    assert "both orders" in report.table() and "agree" in report.table()


def test_the_thinking_budget_is_recorded_and_old_reports_still_load(serve) -> None:
    server = serve(prefer_quality)
    judge = HTTPJudge("judge", api_base=server.api_base, retry=RetryPolicy(resamples=0), thinking_budget=64)
    report = calibrate(make_pairs(4), judge)
    assert report.thinking_budget == 64 and "thinking budget 64" in report.table()
    assert calibrate(make_pairs(4), judge_of(server)).thinking_budget is None
    old = json.loads(report.model_dump_json())
    del old["thinking_budget"]
    for figures in (old["overall"], *old["subsets"].values()):
        del figures["both_orders"], figures["order_agreement"]
    loaded = CalibrationReport.model_validate(old)
    assert loaded.thinking_budget is None and loaded.overall.both_orders is None
    assert loaded.table().splitlines()[1].split()[4:6] == ["-", "-"]  # both orders and agree: unknown


def test_a_judge_error_on_one_pair_cancels_the_others(serve) -> None:
    release = threading.Event()

    def script(body: dict[str, Any]) -> Reply:
        if "question 0" in prompt_query(body):
            return Reply(status=500)
        release.wait(30)  # held until the test has looked
        return prefer_quality(body)

    judge = HTTPJudge("judge", api_base=serve(script).api_base, retry=RetryPolicy(max_attempts=1, resamples=0))

    async def run() -> list[asyncio.Task[Any]]:
        with pytest.raises(JudgeUnavailableError):
            await acalibrate(make_pairs(6), judge)
        running = asyncio.all_tasks() - {asyncio.current_task()}
        # The transport's pooled session is kept open for the loop's lifetime, not a request.
        return [task for task in running if task.get_coro().__qualname__ != "AiohttpTransport._keep"]

    try:
        assert asyncio.run(run()) == []  # nothing of the calibration runs on
    finally:
        release.set()
        judge.close()


def test_abstentions_score_one_half(serve) -> None:
    report = calibrate(make_pairs(10), judge_of(serve(NO_VERDICT)), votes=3, order="alternate")
    overall = report.overall
    assert overall.reference.estimate == overall.single_vote.estimate == overall.majority.estimate == 0.5
    assert overall.abstention_rate == 1.0 and overall.position_bias is None and overall.flip_rate is None


def test_subsets_are_reported_separately(serve) -> None:
    # Right on "easy" questions, always Assistant 1 on "hard" ones.
    script = votes(lambda body, i: rrm_choice(by_quality(body) if "easy" in prompt_query(body) else 1))
    report = calibrate(make_pairs(40, ("easy", "hard")) + [make_pairs(1)[0] | {"id": "x", "subset": None}],
                       judge_of(serve(script)), votes=2)  # fmt: skip
    assert set(report.subsets) == {"easy", "hard"} and report.overall.pairs == 41  # no subset: overall only
    assert report.subsets["easy"].single_vote.estimate == 1.0 and report.subsets["easy"].pairs == 20
    assert report.subsets["hard"].position_bias == 1.0
    assert "easy" in report.table() and "hard" in report.table()


def test_majority_of_k(serve) -> None:
    # Per request of n votes: right, right, wrong, ... (two of three right), in one order per pair.
    script = votes(lambda body, i: rrm_choice(by_quality(body) if i % 3 < 2 else 3 - by_quality(body)))
    server = serve(script)
    three = calibrate(make_pairs(12), judge_of(server), votes=3, order="per_match")
    assert three.overall.single_vote.estimate == pytest.approx(2 / 3) and three.overall.majority.estimate == 1.0
    assert three.overall.reference.estimate == 1.0  # each pair's first vote is a right one
    four = calibrate(make_pairs(12), judge_of(server), votes=4, order="per_match")  # right, right, wrong, right
    assert four.overall.majority.estimate == 1.0 and four.overall.single_vote.estimate == 0.75
    tie = calibrate(make_pairs(12), judge_of(serve(votes(lambda b, i: rrm_choice(by_quality(b) if i % 2 == 0
                                                                                   else 3 - by_quality(b))))),
                    votes=2, order="per_match")  # fmt: skip
    assert tie.overall.majority.estimate == 0.5 and tie.overall.single_vote.estimate == 0.5


def test_the_reference_scores_first_samples_only(serve) -> None:
    # Every vote's first sample has no verdict; a resample gives the right one.
    seen: set[str] = set()

    def script(body: dict[str, Any]) -> Reply:
        first = prompt_text(body) not in seen
        seen.add(prompt_text(body))
        return Reply(choices=[Choice(content="hmm") if first else rrm_choice(by_quality(body))])

    report = calibrate(make_pairs(10), judge_of(serve(script), resamples=1))
    assert report.overall.single_vote.estimate == 1.0 and report.overall.abstention_rate == 0
    assert report.overall.reference.estimate == 0.5 and report.overall.first_sample_abstention_rate == 1.0
    assert report.resamples == 1


# --- the command ------------------------------------------------------------------------------


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_the_command_writes_the_report_and_the_rejects(tmp_path: Path, serve, capsys) -> None:
    server = serve(prefer_quality)
    bad = [{"id": "no-rejected", "prompt": "q", "chosen": "a"}, {"id": "same", "prompt": "q", "chosen": "a 1",
           "rejected": "a 1"}, {"id": "number", "prompt": "q", "chosen": 5, "rejected": "b"}, [1, 2],
           {"id": "chat", "prompt": [{"role": "user", "content": "hi, quality?"}],
            "chosen": {"role": "assistant", "content": "hello, quality 5"},
            "rejected": "go away, quality 0"}]  # fmt: skip
    source = write_jsonl(tmp_path / "pairs.jsonl", make_pairs(6) + bad)
    out = tmp_path / "report.json"
    argv = ["calibrate", str(source), "-o", str(out), "--model", "judge", "--client", "http",
            "--api-base", server.api_base, "--votes", "2"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "overall" in printed.out and "math" in printed.out and "4 row(s) rejected" in printed.out
    report = CalibrationReport.model_validate_json(out.read_text())
    assert report.overall.pairs == 7 and report.rejected == 4 and report.overall.majority.estimate == 1.0
    rejects = {r["id"]: r["reason"] for r in map(json.loads, (tmp_path / "report.json.rejects.jsonl").open())}
    assert rejects == {"no-rejected": "missing field 'rejected'", "same": "chosen and rejected are the same text",
                       "number": "'chosen' is not text (a string, or a message with text content)",
                       "9": "row is not a JSON object"}  # fmt: skip
    # A rerun asks nothing new: every vote comes from the cache next to the report.
    asked = len(server.requests)
    assert main(argv) == 0
    assert len(server.requests) == asked
    again = CalibrationReport.model_validate_json(out.read_text())
    assert again.overall.cached_votes == again.overall.votes == 14 and again.rejected == 4
    assert len((tmp_path / "report.json.rejects.jsonl").read_text().splitlines()) == 4  # rewritten, not appended


def test_no_valid_row_or_a_selection_option_exits_2(tmp_path: Path, serve, capsys) -> None:
    server = serve(prefer_quality)
    judge = ["--model", "judge", "--client", "http", "--api-base", server.api_base, "--no-cache"]
    source = write_jsonl(tmp_path / "bad.jsonl", [{"id": "a", "prompt": "q", "chosen": "x", "rejected": "x"}])
    assert main(["calibrate", str(source), "-o", str(tmp_path / "r.json"), *judge]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no valid pair" in err and not (tmp_path / "r.json").exists()
    assert (tmp_path / "r.json.rejects.jsonl").read_text().count("\n") == 1
    good = write_jsonl(tmp_path / "good.jsonl", make_pairs(2))
    assert main(["calibrate", str(good), "-o", str(tmp_path / "r.json"), "--method", "swiss", *judge]) == 2
    assert "--method does not apply to calibrate" in capsys.readouterr().err
    assert not server.requests
