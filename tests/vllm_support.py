"""The real vLLM pieces the tests use: the packaged tiny judge, in-process and as a server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rrm_select.tiny_judge import build_tiny_judge

ROOT = Path(__file__).resolve().parent.parent
TINY_DIR = ROOT / ".cache" / "tiny-judge"  # ignored by git; built once, reused by later runs
VLLM_ENV = {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
ENGINE_OPTIONS = {"dtype": "bfloat16", "max_model_len": 2048, "enforce_eager": True, "seed": 0}
SERVED_NAME = "tiny-judge"
TINY_SERVER_ARGS = ("--dtype", "bfloat16", "--max-model-len", "2048", "--enforce-eager", "--seed", "0")


def tiny_model() -> Path:
    return build_tiny_judge(TINY_DIR)


def tiny_chat_template() -> str:
    """The tiny judge's chat template, for rendering its prompts on the client."""
    return (tiny_model() / "chat_template.jinja").read_text()


def answering_template() -> Path:
    """The tiny model's chat template without the opened reasoning, for it as a generator:
    asked to answer, not to judge, it then writes an answer instead of often ending at once."""
    path = ROOT / ".cache" / "tiny-answering-template.jinja"
    path.write_text(tiny_chat_template().replace("assistant\n<think>\n", "assistant\n"))
    return path


def keep_thinking(in_process: bool = False) -> dict[str, dict[Any, float]]:
    """A logit bias against the tiny judge's end-of-turn tokens. Left alone, it often ends its
    turn a few tokens into its reasoning; an RRM thinks until it is done or forced. Structured
    outputs still end the turn after the verdict (the end token is then the only one allowed).
    Token ids are ints for `SamplingParams`, strings in a request body (as the OpenAI API has them)."""
    added = json.loads((tiny_model() / "tokenizer.json").read_text())["added_tokens"]
    ends = [t["id"] for t in added if t["content"] in ("<|endoftext|>", "<|im_end|>")]
    return {"logit_bias": {(token if in_process else str(token)): -100.0 for token in ends}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def vllm_server(
    model: Path, *extra: str, startup_timeout_s: float = 300, ports: Iterator[int] | None = None
) -> Iterator[str]:
    """Start vLLM's OpenAI server on a free loopback port; yield its api_base; always stop it.

    A port taken between choosing and binding (another process got there first) makes the
    server exit; we then try another port. `ports` overrides where ports come from (tests).
    """
    for _ in range(3):
        port = next(ports) if ports is not None else free_port()
        command = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(model), "--served-model-name", SERVED_NAME,
            "--host", "127.0.0.1", "--port", str(port), "--disable-log-stats", *extra,
        ]  # fmt: skip
        log = open(ROOT / ".cache" / f"vllm-server-{port}.log", "w")  # noqa: SIM115 - closed below
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **VLLM_ENV}, start_new_session=True
        )
        try:
            if _wait_ready(server, port, startup_timeout_s):
                yield f"http://127.0.0.1:{port}/v1"
                return
        finally:
            _stop(server)
            log.close()
    raise RuntimeError(f"vLLM server did not start; see {log.name}")


def _wait_ready(server: subprocess.Popen, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as r:
            if r.status == 200:
                return True
        time.sleep(0.5)
    raise TimeoutError(f"vLLM server on port {port} not ready after {timeout_s} s")


def _stop(server: subprocess.Popen) -> None:
    """SIGTERM the server's whole process group, SIGKILL it if it lingers."""
    if server.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
