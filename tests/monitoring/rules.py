"""The PrometheusRule of k8s/monitoring, its promtool unit tests, and promtool itself, as the
tests use them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.services import service_script

ROOT = Path(__file__).resolve().parents[2]
RULE_SOURCE = ROOT / "k8s" / "monitoring" / "prometheus-rules.yaml"
UNIT_TESTS = ROOT / "k8s" / "monitoring" / "tests" / "streamflow-rules.test.yaml"
# The name the unit tests give their rules file (rule_files), beside them.
RULES_NAME = "streamflow-rules.yaml"
EXTRACT = ROOT / "scripts" / "prometheus_rules.py"
DOCS = ROOT / "docs" / "monitoring.md"


def promtool() -> str:
    """promtool's path: on the PATH, or Debian's package installed by scripts/prometheus.sh."""
    return shutil.which("promtool") or service_script("prometheus", "promtool", timeout=900)


def prometheus_rule() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(RULE_SOURCE.read_text())
    return document


def rules(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in document["spec"]["groups"] for rule in group["rules"]]


def extract(source: Path, output: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """scripts/prometheus_rules.py SOURCE -o OUTPUT OPTIONS."""
    return subprocess.run(
        [sys.executable, str(EXTRACT), str(source), "-o", str(output), *options],
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=300)


def unit_test_folder(folder: Path, source: Path = RULE_SOURCE, tests: str | None = None) -> Path:
    """A folder holding the rules extracted from ``source`` and the unit tests (``tests``, or
    k8s/monitoring's): what ``promtool test rules`` reads. Returns the unit tests' path."""
    folder.mkdir(parents=True, exist_ok=True)
    done = extract(source, folder / RULES_NAME)
    assert done.returncode == 0, done.stderr
    target = folder / UNIT_TESTS.name
    target.write_text(UNIT_TESTS.read_text() if tests is None else tests)
    return target
