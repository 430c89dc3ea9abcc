from __future__ import annotations

import subprocess
import sys

import rrm_select


def test_import_is_light() -> None:
    code = (
        "import sys, rrm_select; print(sorted(m for m in ('litellm', 'vllm', 'openai', 'torch') if m in sys.modules))"
    )
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
