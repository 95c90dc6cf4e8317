"""The project's local Kafka broker for the tests that need one, and the Flink cluster for
the live path's.

``scripts/kafka.sh start`` provisions (once), formats, starts and creates the topics, then
starts the expansion service; it is idempotent, and .ci/run starts the broker before the
suite. The broker is left running.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.flink.conftest import flink_master  # noqa: F401  (the live path runs on Flink)
from tests.kafka.live import Topics, delete_topics, fresh_topics
from tests.services import service_script


@pytest.fixture(scope="session")
def bootstrap_servers() -> str:
    service_script("kafka", "start", timeout=900)
    return service_script("kafka", "bootstrap")


@pytest.fixture
def topics(bootstrap_servers: str) -> Iterator[Topics]:
    """The project's three topics under new names for one test, deleted after it (they keep
    replayed records forever while they exist)."""
    created = fresh_topics(bootstrap_servers)
    yield created
    delete_topics(bootstrap_servers, created)
