"""The house rules of the code (docs/design.md, "Layers"), enforced.

* the import-linter contracts in ``pyproject.toml`` hold (layers, the
  verifier's independence, a pure core, one writer, no cycles) — and a
  deliberate violation makes ``lint-imports`` fail, so the check can fail;
* no module of ``registry/``, the plugins or ``publish.py`` imports a private
  name of another module, nor reaches into another module's private names;
* no import of the project's own modules hides inside a function (the way
  cycles are dodged); lazy imports of heavy third-party modules are allowed;
* the Pelican plugin and the Datasette plugin have no import cycles either.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = ("registry", "szzz_registry", "szzz_datasette", "publish", "pelicanconf")
SOURCES = sorted([*ROOT.joinpath("registry").rglob("*.py"), *ROOT.joinpath("plugins").rglob("*.py"),
                  ROOT / "publish.py"])


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
                          cwd=root, capture_output=True, text=True, check=False,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def test_import_contracts_hold():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("registry/verify/single.py", "from registry.store import schema", "the verifier never imports"),
    ("registry/core/clock.py", "from registry.store import schema", "registry is layered"),
    ("registry/log/merkle.py", "import sqlite3", "core and log hold no database"),
    ("registry/store/trust.py", "from registry.store import integrity", "no import cycle"),
    ("registry/publish/api.py", "from registry.store import operations", "only the command line"),
])
def test_a_deliberate_violation_fails_the_contracts(tmp_path, module, line, contract):
    shutil.copytree(ROOT / "registry", tmp_path / "registry", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # a deliberate violation\n",
                      encoding="utf-8")
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    broken = [row for row in done.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(row.startswith(contract) for row in broken), done.stdout


def _first_party(name: str | None) -> bool:
    return bool(name) and name.split(".")[0] in FIRST_PARTY


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_name_crosses_a_module_boundary():
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        modules = set()  # local names bound to first-party modules
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if _first_party(alias.name):
                        modules.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and (node.level or _first_party(node.module)):
                for alias in node.names:
                    if _private(alias.name):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports {alias.name}")
                    modules.add(alias.asname or alias.name)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name)
                    and node.value.id in modules):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: uses {node.value.id}.{node.attr}")
    assert not found, "\n".join(found)


def test_no_first_party_import_hides_in_a_function():
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module or "."] if isinstance(node, ast.ImportFrom) and not node.level else
                         ["."] if isinstance(node, ast.ImportFrom) else [])
                if any(n == "." or _first_party(n) for n in names):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports {names} in {func.name}()")
    assert not found, "\n".join(found)


def test_plugins_have_no_import_cycles():
    # (The Datasette plugin is one module: it cannot import itself.
    # plugins/pelican is on sys.path through pytest's pythonpath setting.)
    graph = grimp.build_graph("szzz_registry", "registry", cache_dir=None)
    for package in ("szzz_registry", "registry"):
        assert graph.nominate_cycle_breakers(package) == set(), package
    for module in graph.find_children("registry"):
        assert graph.nominate_cycle_breakers(module) == set(), module
