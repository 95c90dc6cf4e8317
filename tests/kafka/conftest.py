"""The project's local Kafka broker for the tests that need one.

``scripts/kafka.sh start`` provisions (once), formats, starts and creates the topics; it is
idempotent, and .ci/run starts the broker before the suite. The broker is left running.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KAFKA_SCRIPT = REPO / "scripts" / "kafka.sh"


@pytest.fixture(scope="session")
def bootstrap_servers() -> str:
    subprocess.run([str(KAFKA_SCRIPT), "start"], check=True, capture_output=True, timeout=600)
    return subprocess.run(
        [str(KAFKA_SCRIPT), "bootstrap"], check=True, capture_output=True, text=True
    ).stdout.strip()
