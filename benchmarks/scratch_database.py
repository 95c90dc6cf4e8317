"""A migrated scratch database for warehouse benchmarks, dropped afterwards.

On the project's cluster (``scripts/postgres.sh``, started if needed) unless a DSN of a
server whose role may create databases is given.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pipelines.migrate import migrate

REPO = Path(__file__).resolve().parent.parent


def project_server_dsn() -> str:
    script = str(REPO / "scripts" / "postgres.sh")
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
def scratch_database(server_dsn: str | None = None) -> Iterator[str]:
    server = server_dsn or project_server_dsn()
    name = f"streamflow_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        params = conninfo_to_dict(server)
        params["dbname"] = name
        dsn = make_conninfo(**params)
        migrate(dsn)
        yield dsn
    finally:
        drop_database(server, name)
