from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from rrm_select.types import Verdict

if TYPE_CHECKING:
    from fake_openai import Reply

# litellm otherwise downloads a price list at import; CI has no network for that.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).parent))


def quality(text: str) -> float:
    """Test candidates end with their true quality, e.g. "answer B, quality 7"."""
    return float(re.findall(r"-?\d+(?:\.\d+)?", text)[-1])


def by_quality(body: dict[str, Any]) -> Verdict:
    """The verdict of a perfect judge on an RRM request body: the candidate of higher quality."""
    from fake_openai import split_prompt

    first, second = split_prompt(body)
    return 1 if quality(first) > quality(second) else 2


def prefer_quality(body: dict[str, Any]) -> Reply:
    """A fake server script for a perfect judge: `n` well-formed votes for the better candidate."""
    from fake_openai import Reply, rrm_choice

    return Reply(choices=[rrm_choice(by_quality(body)) for _ in range(body.get("n", 1))])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (a playwright browser context) per module: playwright's sync API keeps
    an event loop of its own, which should not outlive the module that needs it."""
    from browser_support import chromium

    with chromium() as context:
        yield context
