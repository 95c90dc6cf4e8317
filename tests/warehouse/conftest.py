"""A real PostgreSQL for warehouse tests: the project's cluster, fresh databases per module.

The server comes from ``scripts/postgres.sh start`` (idempotent; .ci/run starts it first), or
from ``STREAMFLOW_TEST_PG_DSN``: a DSN whose role may create databases.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pipelines.warehouse.scratch import project_server_dsn, scratch_database


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
