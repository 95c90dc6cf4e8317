"""The project's local Kafka broker for the tests that need one, and the Flink cluster for
the live path's.

``scripts/kafka.sh start`` provisions (once), formats, starts and creates the topics, then
starts the expansion service; it is idempotent, and .ci/run starts the broker before the
suite. The broker is left running.
"""

from __future__ import annotations

import pytest

from tests.flink.conftest import flink_master  # noqa: F401  (the live path runs on Flink)
from tests.services import service_script


@pytest.fixture(scope="session")
def bootstrap_servers() -> str:
    service_script("kafka", "start", timeout=900)
    return service_script("kafka", "bootstrap")
