"""StreamFlow installed from a built wheel, away from the checkout, still finds its SQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]
# Local state a checkout may hold, none of which belongs in a package build.
_NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", ".cache", "out", "models", "build", "dist", "*.egg-info", "__pycache__"
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the sources, installed into a folder of its own."""
    source = tmp_path_factory.mktemp("source") / "streamflow"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCES)
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "uv", "build", "--wheel", "--quiet", "-o", str(wheels), str(source)],
        check=True,
    )
    (wheel,) = wheels.glob("streamflow-*.whl")
    target = tmp_path_factory.mktemp("site")
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    subprocess.run([*install, "--target", str(target), str(wheel)], check=True)
    return target


def _warehouse(installed: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Run outside the checkout, with only the installed copy on the path ahead of the venv.
    environment = {**os.environ, "PYTHONPATH": str(installed)}
    environment.pop("STREAMFLOW_PG_DSN", None)
    return subprocess.run(
        [sys.executable, "-m", "pipelines.warehouse", *args],
        cwd=installed.parent,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_wheel_carries_the_sql_and_uses_it(installed: Path) -> None:
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pipelines.warehouse import sql_files; print(sql_files.sql_root())",
        ],
        cwd=installed.parent,
        env={**os.environ, "PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
        check=True,
    )
    root = Path(probe.stdout.strip())
    assert root == installed / "pipelines" / "warehouse" / "sql"
    checkout = sorted(p.relative_to(REPO / "sql") for p in (REPO / "sql").rglob("*.sql"))
    assert sorted(p.relative_to(root) for p in root.rglob("*.sql")) == checkout


def test_every_command_runs_from_the_wheel(installed: Path, empty_dsn: str) -> None:
    expected = len(list((REPO / "sql" / "migrations").glob("V*.sql")))
    migrated = _warehouse(installed, "migrate", "--dsn", empty_dsn)
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.startswith(f"applied {expected} migration(s)")
    with psycopg.connect(empty_dsn) as connection:
        row = connection.execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert row == (expected,)
    for command in (["refresh"], ["quality", "--check", "null_rate"], ["maintain"]):
        result = _warehouse(installed, *command, "--dsn", empty_dsn)
        assert result.returncode == 0, (command, result.stderr)


def test_the_console_serves_its_pages_from_the_wheel(installed: Path) -> None:
    # Templates and static files are package data: a wheel without them serves nothing.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json\n"
            "from console.web_paths import STATIC, TEMPLATES\n"
            "print(json.dumps([str(TEMPLATES), sorted(p.name for p in TEMPLATES.glob('*.html')),"
            " sorted(p.name for p in STATIC.iterdir())]))",
        ],
        cwd=installed.parent,
        env={**os.environ, "PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
        check=True,
    )
    folder, templates, static = json.loads(probe.stdout)
    assert Path(folder) == installed / "console" / "templates"
    assert templates == sorted(p.name for p in (REPO / "console" / "templates").glob("*.html"))
    assert static == sorted(p.name for p in (REPO / "console" / "static").iterdir())
