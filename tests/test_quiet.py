"""Quiet by default: the CLI against a fault-injecting server prints nothing of its dependencies
for failures it retried, and one line for a failure that ends the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import by_quality
from fake_openai import FakeOpenAIServer, FaultInjector
from vllm_support import free_port

ROWS = [{"id": f"r{i}", "prompt": f"q{i}", "responses": [f"a, quality {i % 3}", "b, quality 5", "c, quality 2"]}
        for i in range(20)]  # fmt: skip


def run_filter(tmp_path: Path, client: str, api_base: str, *extra: str) -> subprocess.CompletedProcess[str]:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    model = "hosted_vllm/judge" if client == "litellm" else "judge"
    argv = ["filter", str(source), "-o", str(tmp_path / f"out-{client}.jsonl"), "--no-cache", "--model", model,
            "--api-base", api_base, "--client", client, *extra]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "rrm_select", *argv], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip


@pytest.mark.parametrize("client", ["litellm", "http"])
def test_retried_failures_print_nothing(tmp_path: Path, client: str) -> None:
    faults = FaultInjector(by_quality, rate=0.2, kinds=("500", "429", "drop", "malformed"), seed=1)
    with FakeOpenAIServer(faults) as server:
        done = run_filter(tmp_path, client, server.api_base)
    assert sum(sum(kinds.values()) for kinds in faults.injected.values()) >= 5  # failures really happened
    assert done.returncode == 0, done.stderr
    # litellm printed its "Give Feedback / Get Help" banner to stdout for each of them.
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()  # the run's summary, nothing else
    assert line.startswith("done: rows 20/20") and "failures" in line


@pytest.mark.parametrize("client", ["litellm", "http"])
def test_a_failure_that_ends_the_run_prints_one_line(tmp_path: Path, client: str) -> None:
    done = run_filter(tmp_path, client, f"http://127.0.0.1:{free_port()}/v1", "--max-attempts", "2")
    assert done.returncode == 3 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("rrm-select: judge failed:") and "could not connect" in line and "rerun to resume" in line
