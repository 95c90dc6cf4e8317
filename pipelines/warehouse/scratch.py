"""Throwaway databases for tests and benchmarks, created on a server and dropped afterwards.

The server is the project's local cluster (``scripts/postgres.sh``, started if needed; only in a
checkout) unless a DSN of a server whose role may create databases is given.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from pipelines.warehouse.migrate import migrate

_POSTGRES_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres.sh"


def project_server_dsn() -> str:
    """The DSN of the checkout's local cluster, started if it is not running."""
    script = str(_POSTGRES_SCRIPT)
    subprocess.run([script, "start"], check=True, capture_output=True)
    dsn = subprocess.run([script, "dsn"], check=True, capture_output=True, text=True).stdout
    return dsn.strip()


def drop_database(server_dsn: str, name: str) -> None:
    # WITH (FORCE) fails (InsufficientPrivilege) while a backend this role may not signal is
    # in the database: seen after bulk writes, an autovacuum worker, gone within moments.
    for attempt in range(20):
        try:
            with psycopg.connect(server_dsn, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            return
        except psycopg.errors.InsufficientPrivilege:
            if attempt == 19:
                raise
            time.sleep(0.5)


@contextmanager
def scratch_database(server_dsn: str | None = None, *, migrated: bool = True) -> Iterator[str]:
    """The DSN of a new database (migrated unless told otherwise), dropped on exit."""
    server = server_dsn or project_server_dsn()
    name = f"streamflow_scratch_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = make_conninfo(server, dbname=name)
        if migrated:
            migrate(dsn)
        yield dsn
    finally:
        drop_database(server, name)
