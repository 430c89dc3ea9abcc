"""GPU smoke test: a real RRM checkpoint served by vLLM (never needed by CI).

Run on a GPU machine with vLLM's CUDA build and a local checkpoint:

    RRM_MODEL=/models/RRM-7B .venv/bin/python -m pytest -m gpu tests/test_gpu_smoke.py

Skipped without a CUDA GPU or without RRM_MODEL. The same path (server, litellm, parsing,
selection) runs on the CPU with the tiny judge in test_vllm.py.
"""

from __future__ import annotations

import os
import shutil

import pytest
from vllm_support import SERVED_NAME, vllm_server

from rrm_select import KnockoutSelector, LiteLLMJudge

pytestmark = pytest.mark.gpu

QUERY = "What is 17 * 23? Give the number."
CANDIDATES = ["17 * 23 = 391.", "17 * 23 = 381.", "It is 401.", "391", "17 * 23 = 371."]


def _gpu_available() -> bool:
    return shutil.which("nvidia-smi") is not None and os.system("nvidia-smi -L > /dev/null 2>&1") == 0


@pytest.mark.skipif(not _gpu_available(), reason="needs a CUDA GPU")
@pytest.mark.skipif(not os.environ.get("RRM_MODEL"), reason="set RRM_MODEL to a local RRM checkpoint")
def test_real_rrm_picks_the_right_answer() -> None:
    from pathlib import Path

    extra = ("--reasoning-parser", "deepseek_r1", "--max-model-len", "16384")
    with vllm_server(Path(os.environ["RRM_MODEL"]), *extra, startup_timeout_s=900) as api_base:
        judge = LiteLLMJudge(f"hosted_vllm/{SERVED_NAME}", api_base=api_base, api_key="EMPTY")
        result = KnockoutSelector(judge, votes=3, seed=0).select(QUERY, CANDIDATES)
    assert "391" in result.best
    assert result.usage.abstentions <= result.usage.votes // 4  # a real RRM nearly always concludes
