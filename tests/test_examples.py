"""The runnable examples, against a real vLLM CPU server (the tiny model as generator and judge).

This server runs without a reasoning parser: the generator's answers must stay in `content`.
The judge's verdicts are forced well-formed with structured outputs (`--force-verdict`).
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from vllm_support import ROOT, SERVED_NAME, TINY_SERVER_ARGS, answering_template, free_port, tiny_model, vllm_server

MODEL = f"hosted_vllm/{SERVED_NAME}"


@pytest.fixture(scope="module")
def taken_port() -> Iterator[int]:
    """A loopback port another process already listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.fixture(scope="module")
def plain_server(taken_port: int) -> Iterator[str]:
    # The first port offered is taken: the server must move to another one, not fail the run.
    ports = itertools.chain([taken_port], iter(free_port, None))
    extra = ("--chat-template", str(answering_template()))  # the tiny model generates here too
    with vllm_server(tiny_model(), *TINY_SERVER_ARGS, *extra, ports=ports) as api_base:
        yield api_base


def test_a_taken_port_does_not_break_the_run(plain_server: str, taken_port: int) -> None:
    assert f":{taken_port}/" not in plain_server
    with urllib.request.urlopen(f"{plain_server}/models", timeout=10) as reply:
        assert json.load(reply)["data"][0]["id"] == SERVED_NAME


def run_example(name: str, *args: str) -> str:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], capture_output=True, text=True,
                          env=env, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_chatbot_example(plain_server: str) -> None:
    out = run_example("chatbot.py", "--api-base", plain_server, "--model", MODEL, "--judge-model", MODEL,
                      "--n", "3", "--max-tokens", "24", "--judge-max-tokens", "64", "--force-verdict", "40")  # fmt: skip
    lines = out.splitlines()
    assert lines[0].startswith("assistant (best of 3): ") and len(lines[0]) > len("assistant (best of 3): ")
    assert lines[1].startswith("chosen candidate: ") and sum(line.startswith("  round") for line in lines) == 2
    assert lines[-1].startswith("tokens: generation ")


def test_rerank_example(plain_server: str) -> None:
    out = run_example("rerank_agent.py", "--api-base", plain_server, "--judge-model", MODEL,
                      "--max-tokens", "64", "--force-verdict", "40")  # fmt: skip
    lines = out.splitlines()
    assert [line[:3] for line in lines[:2]] == ["#1:", "#2:"]
    assert lines[2] == "6 matches, 6 votes"


def test_filter_example(plain_server: str, tmp_path: Path) -> None:
    output = tmp_path / "best.jsonl"
    out = run_example("filter_dataset.py", "--api-base", plain_server, "--judge-model", MODEL,
                      "--output", str(output), "--max-tokens", "64", "--force-verdict", "40")  # fmt: skip
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in records] == ["math-1", "geo-1", "code-1", "chat-1"]
    assert all(r["chosen"] in r_src["responses"] for r, r_src in zip(records, _source_rows(), strict=False))
    rejects = output.with_name("best.jsonl.rejects.jsonl").read_text()
    assert '"broken-1"' in rejects


def _source_rows() -> list[dict]:
    lines = (ROOT / "examples" / "data" / "prompts.jsonl").read_text().splitlines()
    return [row for row in map(json.loads, lines) if "responses" in row]


def test_calibrate_on_the_example_pairs(plain_server: str, tmp_path: Path) -> None:
    # A few of the 33 pairs: the tiny judge takes seconds per vote on a CPU.
    rows = (ROOT / "examples" / "data" / "pairs.jsonl").read_text().splitlines()[:4]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(rows) + "\n")
    output = tmp_path / "report.json"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run([sys.executable, "-m", "rrm_select", "calibrate", str(pairs), "-o", str(output),
                           "--model", MODEL, "--api-base", plain_server, "--max-tokens", "64", "--force-verdict", "40",
                           "--no-cache"], capture_output=True, text=True, env=env, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(output.read_text())
    overall = report["overall"]
    assert overall["pairs"] == 4 and overall["votes"] == 4 and report["rejected"] == 0
    assert overall["both_orders"] is not None and 0 <= overall["order_agreement"] <= 1
    assert overall["completion_tokens"]["median"] > 0
    assert done.stdout.splitlines()[1].startswith("overall")
