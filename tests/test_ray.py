"""Filtering on a local Ray cluster (2 CPUs) against a loopback judge: the same bytes as one process."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from fake_openai import FakeOpenAIServer, Reply, rrm_choice, split_prompt

from rrm_select import KnockoutSelector, LiteLLMJudge, MissingDependencyError
from rrm_select.cli import main


def prefer_longer(body: dict[str, Any]) -> Reply:
    first, second = split_prompt(body)
    return Reply(choices=[rrm_choice(1 if len(first) > len(second) else 2) for _ in range(body.get("n", 1))])


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(prefer_longer) as s:
        yield s


def make_rows(count: int) -> list[Any]:
    rows: list[Any] = []
    for i in range(count):
        if i % 500 == 7:
            rows.append({"id": f"r{i}", "prompt": "no candidates"})
            continue
        candidates = [f"answer {i}" + "!" * (i % 5), f"reply {i}" + "?" * (i % 3)]
        rows.append({"id": f"r{i}", "prompt": f"question {i}", "responses": candidates + ["x"] * (i % 2)})
    return rows


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def filter_args(source: Path, output: Path, server: FakeOpenAIServer, *extra: str) -> list[str]:
    return ["filter", str(source), "-o", str(output), "--model", "hosted_vllm/judge", "--api-base", server.api_base,
            "--emit", "ranking", "--seed", "7", *extra]  # fmt: skip


def single_process(argv: list[str]) -> None:
    """The reference run, as a user runs it: its own process. (Not `main` in this one: once any
    litellm Router exists in a process, e.g. from the fleet tests, litellm reports a cost of 0.0
    instead of None for the same model, and ranking traces carry each vote's cost.)"""
    subprocess.run([sys.executable, "-m", "rrm_select", *argv], check=True, stderr=subprocess.DEVNULL)


def test_a_ray_dataset_gives_the_single_process_output(cluster: None, server: FakeOpenAIServer, tmp_path: Path) -> None:
    from rrm_select.ray_stage import select_dataset

    source = write_jsonl(tmp_path / "in.jsonl", make_rows(2000))
    reference = tmp_path / "ref.jsonl"
    single_process(filter_args(source, reference, server, "--no-cache"))
    single_process_requests = len(server.requests)
    api_base = server.api_base

    def make_selector() -> KnockoutSelector:  # runs in each actor
        return KnockoutSelector(LiteLLMJudge("hosted_vllm/judge", api_base=api_base, max_concurrency=32), seed=7)

    events = select_dataset(ray.data.read_text(str(source)), make_selector, json_column="text", emit="ranking",
                            seed=7, batch_size=100, concurrency=2)  # fmt: skip
    lines: dict[str, list[str]] = {"output": [], "stats": [], "rejects": []}
    requests = 0
    for event in events.iter_rows():
        if event["kind"] == "usage":
            requests += json.loads(event["records"])["requests"]
            continue
        for record in json.loads(event["records"]):
            assert record["id"] == event["id"]
            lines[event["kind"]].append(json.dumps(record, ensure_ascii=False) + "\n")
    assert "".join(lines["output"]) == reference.read_text()  # same pairs, orders, votes, rankings
    assert "".join(lines["rejects"]) == (tmp_path / "ref.jsonl.rejects.jsonl").read_text()
    assert "".join(lines["stats"]) == (tmp_path / "ref.jsonl.stats.jsonl").read_text()
    assert len(lines["output"]) == 1996 and len(lines["rejects"]) == 4
    # the Ray run judged every row itself (no cache): as many requests again, all counted
    assert len(server.requests) - single_process_requests == single_process_requests == requests


def test_filter_with_ray_resumes_to_the_single_process_file(
    cluster: None, server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rows = [*make_rows(150), [1, 2], {"prompt": "no id: numbered by position", "responses": ["a", "bb"]}]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    clean = tmp_path / "clean.jsonl"
    single_process(filter_args(source, clean, server, "--no-cache"))
    clean_lines = clean.read_text().splitlines(keepends=True)
    assert json.loads(clean_lines[-1])["id"] == "151"
    # A run stopped after 40 rows, the last one torn mid-line:
    out = tmp_path / "out.jsonl"
    out.write_text("".join(clean_lines[:40]) + clean_lines[40][:25])
    (tmp_path / "out.jsonl.rejects.jsonl").write_text(
        '{"id": "r7", "reason": "missing candidates field \'responses\'", "code": "missing_candidates"}\n'
    )
    # the statistics went out after the 40th row's output, and the 41st's were torn too
    clean_stats = (tmp_path / "clean.jsonl.stats.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "out.jsonl.stats.jsonl").write_text("".join(clean_stats[:40]) + clean_stats[40][:25])
    before = len(server.requests)
    capsys.readouterr()
    assert main(filter_args(source, out, server, "--ray", "--rows-in-flight", "16")) == 0
    assert out.read_bytes() == clean.read_bytes()
    assert (tmp_path / "out.jsonl.rejects.jsonl").read_text() == (tmp_path / "clean.jsonl.rejects.jsonl").read_text()
    assert (tmp_path / "out.jsonl.stats.jsonl").read_bytes() == (tmp_path / "clean.jsonl.stats.jsonl").read_bytes()
    # the first 39 output rows were done; the 40th (the last intact one) and the rest are judged
    # again, and so is the rejected row (the last one of its file)
    redone = [json.loads(line) for line in clean_lines[39:]]
    assert len(server.requests) - before == sum(len(r["matches"]) for r in redone)
    summary = capsys.readouterr().err
    assert summary.startswith(f"done: rows {len(rows)}/{len(rows)} (39 skipped, 2 rejected)")
    assert f"judge requests {len(server.requests) - before}" in summary
    assert (tmp_path / "out.jsonl.cache.sqlite").exists()  # every actor wrote to the one cache
    after = len(server.requests)
    # A finished run again: the last row of each file is judged again, from the actors' shared cache.
    assert main(filter_args(source, out, server, "--ray")) == 0
    assert len(server.requests) == after and out.read_bytes() == clean.read_bytes()
    assert "(150 skipped, 1 rejected)" in capsys.readouterr().err


def test_an_unreachable_judge_on_ray_is_the_judge_error(
    cluster: None, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = write_jsonl(tmp_path / "in.jsonl", make_rows(3))
    argv = ["filter", str(source), "-o", str(tmp_path / "o.jsonl"), "--ray", "--model", "hosted_vllm/judge",
            "--api-base", f"http://127.0.0.1:{port}/v1", "--max-attempts", "1", "--no-cache"]  # fmt: skip
    assert main(argv) == 3
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("rrm-select: judge failed: judge hosted_vllm/judge at http://127.0.0.1:")
    assert "rerun to resume" in err and "could not connect" in err


def test_an_actors_judge_error_reaches_the_driver_with_its_data(tmp_path: Path) -> None:
    import pyarrow as pa

    from rrm_select import HTTPJudge, JudgeUnavailableError, KnockoutSelector, RetryPolicy
    from rrm_select.filter.dataset import JsonlSink
    from rrm_select.filter.job import FilterStats
    from rrm_select.filter.ray_stage import Fields, SelectionStage, _apply

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    retry = RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.01)
    judge = HTTPJudge("judge", api_base=f"http://127.0.0.1:{port}/v1", retry=retry)
    stage = SelectionStage(lambda: KnockoutSelector(judge), Fields(), "best", None, 0, None, report_errors=True)
    events = stage(pa.Table.from_pylist(make_rows(2)))  # what an actor sends back
    assert events["kind"] == ["error"]
    sink = JsonlSink(tmp_path / "o.jsonl")
    with pytest.raises(JudgeUnavailableError, match="could not connect") as caught:
        _apply({k: v[0] for k, v in events.items()}, sink, sink, None, FilterStats())
    assert (caught.value.status, caught.value.attempts) == (None, 2)
    assert caught.value.endpoint == f"http://127.0.0.1:{port}/v1" and caught.value.judge == judge.name


def test_without_ray_the_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from rrm_select.ray_stage import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without ray looks like
    with pytest.raises(MissingDependencyError, match=r"rrm-select\[ray\]"):
        import_ray()
