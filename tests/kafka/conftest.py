"""The project's local Kafka broker for the tests that need one, and the Flink cluster for
the live path's.

``scripts/kafka.sh start`` provisions (once), formats, starts and creates the topics, then
starts the expansion service; it is idempotent, and .ci/run starts the broker before the
suite. The broker is left running.

Without the ``kafka`` extra (``confluent_kafka``), every module here is reported skipped with
the reason, instead of failing the collection of a run that selects other tests
(``pytest -m flink``): so nothing at this module's top imports the client.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.flink.conftest import flink_master  # noqa: F401  (the live path runs on Flink)
from tests.services import service_script

if TYPE_CHECKING:
    from tests.kafka.live import Topics

try:
    import confluent_kafka  # noqa: F401
except ImportError:
    KAFKA_EXTRA_MISSING: str | None = (
        "the Kafka tests need the kafka extra (confluent_kafka): pip install -e '.[kafka]'"
    )
else:
    KAFKA_EXTRA_MISSING = None


class _SkippedModule(pytest.Module):
    """A test module collected as skipped, without importing it."""

    def collect(self) -> Any:
        pytest.skip(str(KAFKA_EXTRA_MISSING), allow_module_level=True)


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> Any:
    if KAFKA_EXTRA_MISSING:
        return _SkippedModule.from_parent(parent, path=module_path)
    return None


@pytest.fixture(scope="session")
def bootstrap_servers() -> str:
    service_script("kafka", "start", timeout=900)
    return service_script("kafka", "bootstrap")


@pytest.fixture
def topics(bootstrap_servers: str) -> Iterator[Topics]:
    """The project's three topics under new names for one test, deleted after it (they keep
    replayed records forever while they exist)."""
    from tests.kafka.live import delete_topics, fresh_topics

    created = fresh_topics(bootstrap_servers)
    yield created
    delete_topics(bootstrap_servers, created)


@pytest.fixture
def registry(
    empty_dsn: str, bootstrap_servers: str, topics: Topics, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A migrated warehouse and the broker, as the registry commands find them in the
    environment, with a grace of 30 s."""
    from pipelines.rules.registration import GRACE_VARIABLE, KAFKA_VARIABLE
    from pipelines.warehouse.migrate import migrate
    from pipelines.warehouse.options import DSN_VARIABLE

    migrate(empty_dsn)
    monkeypatch.setenv(DSN_VARIABLE, empty_dsn)
    monkeypatch.setenv(KAFKA_VARIABLE, bootstrap_servers)
    monkeypatch.setenv(GRACE_VARIABLE, "30")
    return empty_dsn
