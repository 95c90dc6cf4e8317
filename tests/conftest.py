"""Settings every test starts from, and a real PostgreSQL for the tests that need one: the
project's cluster (``scripts/postgres.sh start``, idempotent; .ci/run starts it first) or
``STREAMFLOW_TEST_PG_DSN``, a DSN whose role may create databases; fresh databases per module
or test, dropped after."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pipelines.warehouse.options import DSN_VARIABLE
from pipelines.warehouse.scratch import project_server_dsn, scratch_database


@pytest.fixture(autouse=True)
def _no_warehouse_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's STREAMFLOW_PG_DSN would send every pipeline test's rows to their warehouse.
    monkeypatch.delenv(DSN_VARIABLE, raising=False)


@pytest.fixture(scope="session")
def server_dsn() -> str:
    return os.environ.get("STREAMFLOW_TEST_PG_DSN") or project_server_dsn()


@pytest.fixture(scope="module")
def fresh_dsn(server_dsn: str) -> Iterator[str]:
    """An empty database created for one test module and dropped after it."""
    with scratch_database(server_dsn, migrated=False) as dsn:
        yield dsn


@pytest.fixture
def empty_dsn(server_dsn: str) -> Iterator[str]:
    """An empty database of its own for one test."""
    with scratch_database(server_dsn, migrated=False) as dsn:
        yield dsn
