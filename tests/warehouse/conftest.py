"""A real PostgreSQL for warehouse tests: the project's cluster, fresh databases per module.

The server comes from ``scripts/postgres.sh start`` (idempotent; .ci/run starts it first), or
from ``STREAMFLOW_TEST_PG_DSN``: a DSN whose role may create databases.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

# One retrying DROP for tests and benchmarks (see there why it retries).
from benchmarks.scratch_database import drop_database

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def server_dsn() -> str:
    dsn = os.environ.get("STREAMFLOW_TEST_PG_DSN")
    if dsn:
        return dsn
    script = str(REPO / "scripts" / "postgres.sh")
    subprocess.run([script, "start"], check=True, capture_output=True)
    return subprocess.run(
        [script, "dsn"], check=True, capture_output=True, text=True
    ).stdout.strip()


@contextmanager
def _new_database(server_dsn: str) -> Iterator[str]:
    name = f"streamflow_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(server_dsn)
    params["dbname"] = name
    try:
        yield make_conninfo(**params)
    finally:
        drop_database(server_dsn, name)


@pytest.fixture(scope="module")
def fresh_dsn(server_dsn: str) -> Iterator[str]:
    """A database created for one test module and dropped after it."""
    with _new_database(server_dsn) as dsn:
        yield dsn


@pytest.fixture
def empty_dsn(server_dsn: str) -> Iterator[str]:
    """A database of its own for one test (for tests that need an empty one)."""
    with _new_database(server_dsn) as dsn:
        yield dsn
