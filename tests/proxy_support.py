"""The real litellm proxy (``litellm --config FILE --port P``) as a context manager, for the tests
and the proxy benchmark: started on a free loopback port, ready once ``/health/liveliness``
answers, stopped (and its output kept) at the end."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

from vllm_support import free_port

MASTER_KEY = "sk-proxy-master-test"
EXAMPLE_CONFIG = Path(__file__).parent.parent / "examples" / "litellm_proxy.yaml"


class LiteLLMProxy:
    """``with LiteLLMProxy(config, env) as proxy:``; `proxy.api_base` is its ``/v1`` URL and
    `proxy.output()` what it printed so far."""

    def __init__(self, config: Path = EXAMPLE_CONFIG, env: dict[str, str] | None = None,
                 startup_s: float = 120.0) -> None:  # fmt: skip
        self.config = config
        self.env = {**os.environ, "LITELLM_MASTER_KEY": MASTER_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                    "PYTHONUNBUFFERED": "1", **(env or {})}  # fmt: skip
        self.port = free_port()
        self.api_base = f"http://127.0.0.1:{self.port}/v1"
        self.startup_s = startup_s
        self._log = tempfile.TemporaryFile()

    def __enter__(self) -> Self:
        litellm_cli = Path(sys.executable).with_name("litellm")
        self.process = subprocess.Popen(
            [str(litellm_cli), "--config", str(self.config), "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the litellm proxy exited ({self.process.returncode}):\n{self.output()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health/liveliness", timeout=2):
                    return self
            except OSError:
                time.sleep(0.5)
        self.__exit__(None, None, None)
        raise RuntimeError(f"the litellm proxy was not up after {self.startup_s} s:\n{self.output()}")

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")
