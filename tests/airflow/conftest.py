"""A running Airflow (its environment and metadata database) and a scratch warehouse per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipelines.warehouse.scratch import scratch_database
from tests.services import service_script


@pytest.fixture(scope="session")
def airflow_started() -> None:
    service_script("airflow", "start", timeout=900)


@pytest.fixture
def warehouse(airflow_started: None, server_dsn: str) -> Iterator[str]:
    with scratch_database(server_dsn) as dsn:
        yield dsn
