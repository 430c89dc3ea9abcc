from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# litellm otherwise downloads a price list at import; CI has no network for that.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).parent))

from fake_openai import FakeOpenAIServer, Script  # noqa: E402


def quality(text: str) -> float:
    """Test candidates end with their true quality, e.g. "answer B, quality 7"."""
    return float(re.findall(r"-?\d+(?:\.\d+)?", text)[-1])


@pytest.fixture
def serve() -> Iterator[type]:
    """`with serve(script) as server:` starts a fake OpenAI-compatible server on loopback."""
    started: list[FakeOpenAIServer] = []

    def start(script: Script) -> FakeOpenAIServer:
        server = FakeOpenAIServer(script)
        started.append(server)
        return server

    yield start  # type: ignore[misc]
