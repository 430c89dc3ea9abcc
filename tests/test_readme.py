"""What the README shows runs as shown."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

README = (Path(__file__).parent.parent / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.index("\n## ", start + 1)
    return README[start:end]


def test_the_add_a_backend_example_runs_and_prints_what_it_says() -> None:
    (code,) = re.findall(r"```python\n(.*?)```", section("Add a backend"), re.DOTALL)
    assert len(code.splitlines()) <= 25  # short enough to read at a glance
    expected = re.search(r"print\(.*\)  # (.*)\n", code)
    assert expected, "the example says what it prints"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected[1]


def layers() -> dict[str, int]:
    """Each module (as a path under rrm_select/) and its layer's rank in the README's layout table."""
    package = Path(__file__).parent.parent / "rrm_select"
    modules = {p.relative_to(package).as_posix() for p in package.rglob("*.py")}
    rank: dict[str, int] = {}
    rows = re.findall(r"^\| (\w+) \| (.*?) \| .*? \|$", section("How the code is laid out"), re.MULTILINE)
    for level, (_, cell) in enumerate(row for row in rows if row[0] not in ("layer", "---")):
        for name in re.findall(r"`((?:[a-z_]+/)*[a-z_]+(?:\.py|/))`", cell):
            matches = [m for m in modules if m == name or m.endswith("/" + name) or m.startswith(name)]
            assert matches, f"the layout table names {name}, which does not exist"
            rank.update((m, level) for m in matches)
    return rank


def test_the_layout_table_places_every_module_and_imports_point_down() -> None:
    package = Path(__file__).parent.parent / "rrm_select"
    rank = layers()
    modules = {p.relative_to(package).as_posix() for p in package.rglob("*.py")}
    faces = {"__init__.py", "__main__.py", "cli.py", "ray_stage.py"}  # the package's face and re-export shims
    unplaced = sorted(m for m in modules - rank.keys() if m not in faces and not m.endswith("/__init__.py"))
    assert not unplaced, f"modules the layout section does not place: {unplaced}"
    upward = []
    for module, level in rank.items():
        tree = ast.parse((package / module).read_text())
        lazy = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for n in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rrm_select."):
                target = node.module.removeprefix("rrm_select.").replace(".", "/") + ".py"
                # The one exception the layout section names: a `Selection` draws itself, loading
                # the views (apps) only when a picture is asked for.
                drawn = module == "types.py" and target.startswith("views/") and id(node) in lazy
                if rank.get(target, -1) > level and not drawn:
                    upward.append(f"{module} -> {target}")
    assert not upward, f"imports pointing up a layer: {upward}"
