"""The project's local Kafka broker for the tests that need one.

``scripts/kafka.sh start`` provisions (once), formats, starts and creates the topics; it is
idempotent, and .ci/run starts the broker before the suite. The broker is left running.
"""

from __future__ import annotations

import pytest

from tests.services import service_script


@pytest.fixture(scope="session")
def bootstrap_servers() -> str:
    service_script("kafka", "start", timeout=600)
    return service_script("kafka", "bootstrap")
