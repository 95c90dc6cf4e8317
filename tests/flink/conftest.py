"""A real standalone Flink cluster for the FlinkRunner tests.

``scripts/flink.sh start`` provisions (once) and starts the project's local cluster; it is
idempotent, and .ci/run starts it before the suite. The cluster is left running: it serves
the whole session and the next one.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FLINK_SCRIPT = REPO / "scripts" / "flink.sh"


@pytest.fixture(scope="session")
def flink_master() -> str:
    subprocess.run([str(FLINK_SCRIPT), "start"], check=True, capture_output=True, timeout=900)
    return subprocess.run(
        [str(FLINK_SCRIPT), "master"], check=True, capture_output=True, text=True
    ).stdout.strip()
