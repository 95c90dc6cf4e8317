"""A running Airflow (its environment and metadata database) and a scratch warehouse per test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pipelines.warehouse.scratch import project_server_dsn, scratch_database
from tests.services import service_script


@pytest.fixture(scope="session")
def airflow_started() -> None:
    service_script("airflow", "start", timeout=900)


@pytest.fixture
def warehouse(airflow_started: None) -> Iterator[str]:
    with scratch_database(os.environ.get("STREAMFLOW_TEST_PG_DSN") or project_server_dsn()) as dsn:
        yield dsn
