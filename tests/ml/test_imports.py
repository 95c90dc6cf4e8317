"""Imports run one way: ``ml`` is a library over the domain. It imports ``transforms.domain``
and its own modules, never ``pipelines`` (which imports ``ml``) nor the Beam transforms."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ML = Path(__file__).resolve().parents[2] / "ml"
MODULES = sorted(f"ml.{path.stem}" for path in ML.glob("*.py") if path.stem != "__init__")


def _forbidden(module: str) -> bool:
    top, _, rest = module.partition(".")
    if top == "pipelines":
        return True
    # The bare package is loaded as the domain's parent; anything in it but the domain is not.
    return top == "transforms" and bool(rest) and rest.split(".")[0] != "domain"


def _imported(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):  # function-level imports too
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


@pytest.mark.parametrize("path", sorted(ML.glob("*.py")), ids=lambda path: path.name)
def test_no_ml_module_names_a_module_above_the_domain(path: Path) -> None:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    assert [name for name in _imported(tree) if _forbidden(name)] == []


def test_importing_every_ml_module_loads_nothing_above_the_domain() -> None:
    # A fresh interpreter: what the imports pull in, transitively, not what tests loaded.
    script = (
        "import importlib, json, sys\n"
        f"for name in {MODULES!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    assert [name for name in loaded if _forbidden(name)] == []
    assert "ml.train" in loaded
