"""Nothing imports the console: it is the human surface over the pipeline and the warehouse,
and the pipeline, its transforms, the ML library and the DAGs run without it (benchmarks/
measure it, so they may)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OTHERS = [
    path
    for folder in ("pipelines", "transforms", "ml", "airflow")
    for path in sorted((ROOT / folder).rglob("*.py"))
]


def _imports_console(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
            alias.name.split(".")[0] == "console" for alias in node.names
        ):
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] == "console"
        ):
            return True
    return False


@pytest.mark.parametrize("path", OTHERS, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_other_package_imports_the_console(path: Path) -> None:
    assert not _imports_console(ast.parse(path.read_text("utf-8"), str(path)))


def test_the_check_sees_an_import() -> None:
    assert _imports_console(ast.parse("def f():\n    from console import web\n"))
    assert not _imports_console(ast.parse("import consoles\n"))
