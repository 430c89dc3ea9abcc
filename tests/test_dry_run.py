"""`rrm-select filter --dry-run` against a real run of the same command on the same rows: the
matches it plans are the matches played, and its request and vote counts bound what was sent
(equal where the run is deterministic). The real runs go over HTTP to the fake judge server."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import by_quality
from fake_openai import FakeOpenAIServer, Reply, rrm_choice

from rrm_select.cli import main


def noisy(seed: int) -> Any:
    """A judge that follows quality two times in three: matches split, so early stop plays waves."""
    coin = random.Random(seed)

    def script(body: dict[str, Any]) -> Reply:
        right = by_quality(body)
        return Reply(choices=[rrm_choice(right if coin.random() < 2 / 3 else 3 - right) for _ in range(body["n"])])

    return script


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(noisy(0)) as s:
        yield s


def rows(duplicates: bool = False) -> list[dict[str, Any]]:
    out = []
    for i in range(4):
        texts = [f"answer {j}, quality {(5 * i + 3 * j) % 8}.{j}" for j in range(8)]
        if duplicates:  # 8 candidates, 5 distinct texts
            texts = texts[:5] + [texts[0], texts[3], texts[0]]
        out.append({"id": f"row-{i}", "prompt": f"question {i}", "responses": texts})
    return out


def count(report: str, what: str) -> tuple[int, int, bool]:
    """(fewest, most, exact) from a report line such as ``judge requests: at most 9, at least 4 (...)``."""
    line = next(ln for ln in report.splitlines() if ln.startswith(f"{what}: "))
    exact = re.match(rf"{what}: (\d+)", line)
    if exact:
        return int(exact[1]), int(exact[1]), True
    bounds = re.match(rf"{what}: at most (\d+), at least (\d+)", line)
    assert bounds, line
    return int(bounds[2]), int(bounds[1]), False


# Options, and whether the requests are known exactly (no per-vote coins, no early stop).
OPTIONS: dict[str, tuple[list[str], bool]] = {
    "knockout": ([], True),
    "knockout, finalists 4": (["--finalists", "4"], True),
    "swiss": (["--method", "swiss"], True),
    "elo round robin": (["--method", "elo"], True),
    "order both": (["--votes", "3", "--order", "both"], True),
    "order alternate": (["--votes", "3", "--order", "alternate"], True),
    "order random": (["--votes", "3", "--order", "random"], False),
    "order per_match": (["--votes", "3", "--order", "per_match"], True),
    "early stop decided": (["--votes", "5", "--early-stop", "decided"], False),
    "early stop confident, swiss": (["--method", "swiss", "--votes", "5", "--order", "alternate",
                                     "--early-stop", "confident", "--confidence", "0.8"], False),  # fmt: skip
}


@pytest.mark.parametrize("duplicates", [False, True], ids=["distinct", "duplicates folded"])
@pytest.mark.parametrize(("options", "requests_exact"), OPTIONS.values(), ids=OPTIONS.keys())
def test_the_dry_run_is_what_the_run_does(
    tmp_path: Path,
    server: FakeOpenAIServer,
    capsys: pytest.CaptureFixture,
    options: list[str],
    requests_exact: bool,
    duplicates: bool,
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows(duplicates)))
    argv = ["filter", str(source), "-o", str(tmp_path / "out.jsonl"), "--emit", "ranking", "--no-cache",
            "--client", "http", "--model", "judge", "--api-base", server.api_base, *options]  # fmt: skip
    assert main([*argv, "--dry-run"]) == 0
    report = capsys.readouterr().out
    sent_before = len(server.requests)
    assert main(argv) == 0
    played = [m for line in (tmp_path / "out.jsonl").read_text().splitlines() for m in json.loads(line)["matches"]]

    assert count(report, "matches") == (len(played), len(played), True)
    fewest, most, exact = count(report, "judge requests")
    assert fewest <= len(server.requests) - sent_before <= most  # equal where exact
    assert exact == requests_exact
    fewest, most, exact = count(report, "votes")
    assert fewest <= sum(len(m["votes"]) for m in played) <= most
    assert exact == ("--early-stop" not in options)


def test_eight_candidates_swiss_and_finalists(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": 1, "prompt": "q", "responses": [f"answer {i}" for i in range(8)]}) + "\n")
    expected = {("--method", "swiss"): 16, ("--finalists", "4"): 10, ("--method", "elo"): 28, (): 7}
    for options, matches in expected.items():
        argv = ["filter", str(source), "-o", str(tmp_path / "o.jsonl"), "--dry-run", "--model", "m", *options]
        assert main(argv) == 0
        report = capsys.readouterr().out
        assert f"matches: {matches} (" in report and f"judge requests: {matches};" in report
        assert f"votes: {matches}\n" in report


def test_limits_make_the_counts_bounds(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": 1, "prompt": "q", "responses": [f"answer {i}" for i in range(8)]}) + "\n")
    assert main(["filter", str(source), "-o", str(tmp_path / "o.jsonl"), "--dry-run", "--model", "m",
                 "--budget", "5"]) == 0  # fmt: skip
    report = capsys.readouterr().out
    assert "judge requests: at most 5 (the budget may stop a selection sooner)" in report
    assert main(["filter", str(source), "-o", str(tmp_path / "o.jsonl"), "--dry-run", "--model", "m",
                 "--finalists", "3"]) == 2  # fmt: skip
    assert "finalists must be a power of two" in capsys.readouterr().err
