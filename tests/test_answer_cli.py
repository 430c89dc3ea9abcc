"""`--answer` on the command line, against the fake judge server on loopback: `select` and `filter`
skip matches between two of one answer, the dry run counts only the matches that are judged,
and a resumed run with answers writes the same bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import quality
from test_cli import read_jsonl, server, write_jsonl  # noqa: F401  (server is a fixture)

from rrm_select.cli import main

ANSWER = ["--answer", r"regex:answer (\w)"]


def rows(count: int) -> list[dict[str, object]]:
    letters = ["AABC", "ABBB", "AAAA", "ABCD"]
    return [
        {"id": f"row-{i}", "prompt": f"question {i}",
         "responses": [f"answer {a}, quality {(3 * i + j) % 7}.{j}" for j, a in enumerate(letters[i % 4])]}
        for i in range(count)
    ]  # fmt: skip


def judge_args(api_base: str) -> list[str]:
    return ["--client", "http", "--model", "judge", "--api-base", api_base]


def test_select_with_an_answer_key_skips_a_pair_of_one_answer(server, capsys: pytest.CaptureFixture) -> None:  # noqa: F811
    candidates = ["answer A, quality 1", "answer A, quality 9", "answer B, quality 5"]
    argv = ["select", "--query", "q", "--json", "--method", "elo", *ANSWER, *judge_args(server.api_base)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", __import__("io").StringIO(json.dumps(candidates)))
        assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["answers"] == ["A", "A", "B"]
    decided = sorted(m["decided_by"] for m in result["matches"])
    assert decided == ["majority", "majority", "same_answer"] and len(server.requests) == 2
    assert result["best_index"] == 1


@pytest.mark.parametrize("method", ["elo", "knockout"])
def test_the_dry_run_counts_only_matches_that_are_judged(
    tmp_path: Path, server, capsys: pytest.CaptureFixture, method: str  # noqa: F811
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(8))
    argv = ["filter", str(source), "-o", str(tmp_path / "out.jsonl"), "--emit", "ranking", "--method", method,
            "--no-cache", *ANSWER, *judge_args(server.api_base)]  # fmt: skip
    assert main([*argv, "--dry-run"]) == 0
    report = capsys.readouterr().out
    assert main(argv) == 0
    played = [m for r in read_jsonl(tmp_path / "out.jsonl") for m in r["matches"] if m["decided_by"] != "same_answer"]
    planned = int(report.split("matches: ")[1].split(" ")[0])
    assert len(server.requests) == len(played)
    if method == "elo":  # exact: every pair of different answers
        assert planned == len(played) == 2 * (5 + 3 + 0 + 6)
    else:  # a bound: the knockout stops once one answer is left
        assert len(played) <= planned < 2 * (3 + 3 + 3 + 3)


def test_filter_with_answers_resumes_to_the_same_bytes(tmp_path: Path, server) -> None:  # noqa: F811
    source = write_jsonl(tmp_path / "in.jsonl", rows(12))
    common = [str(source), "--emit", "ranking", "--votes", "3", "--no-cache", *ANSWER, *judge_args(server.api_base)]
    clean, resumed = tmp_path / "clean.jsonl", tmp_path / "resumed.jsonl"
    assert main(["filter", "-o", str(clean), *common]) == 0
    records = read_jsonl(clean)
    assert all(r["answers"] == [c.split(",")[0][-1] for c in r["candidates"]] for r in records)
    for record in records:  # a perfect judge: the winning answer is the best candidate's
        top = max(range(4), key=lambda c: quality(record["candidates"][c]))
        assert record["answers"][record["ranking"][0]] == record["answers"][top]
    # A run stopped after five rows, then run again: the rows already written are kept.
    resumed.write_text("".join(clean.read_text().splitlines(keepends=True)[:5]))
    assert main(["filter", "-o", str(resumed), *common]) == 0
    assert resumed.read_bytes() == clean.read_bytes()
