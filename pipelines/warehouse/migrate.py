"""Apply the warehouse migrations: ``python -m pipelines.warehouse migrate --dsn DSN``.

Migrations are the files ``sql/migrations/V<NNN>__<name>.sql``, applied in version order, each
in its own transaction together with its row in ``public.schema_migrations`` (version, name,
SHA-256, applied at). A migration already applied is skipped; one whose file changed since it
was applied is refused: the fix for a released migration is a new migration. Concurrent
runners are serialised by an advisory lock. A folder without migrations is an incomplete
installation, refused rather than reported as up to date.
"""

from __future__ import annotations

import argparse
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from pipelines.warehouse.locks import MIGRATION_LOCK, advisory_lock
from pipelines.warehouse.sql_files import sql_folder

_FILE_NAME = re.compile(r"V(\d{3,})__([a-z0-9_]+)\.sql")

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS public.schema_migrations (
    version    integer PRIMARY KEY,
    name       text        NOT NULL,
    sha256     text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """A migration cannot be applied safely (edited after release, bad file name, ...)."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def discover(directory: Path | None = None) -> list[Migration]:
    directory = directory or sql_folder("migrations")
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if not match:
            raise MigrationError(f"{path.name}: expected V<NNN>__<name>.sql")
        migrations.append(
            Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8"))
        )
    if not migrations:
        raise MigrationError(f"no migrations in {directory}: an incomplete installation?")
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return sorted(migrations, key=lambda m: m.version)


def migrate(dsn: str, directory: Path | None = None) -> list[int]:
    """Apply pending migrations; returns the versions applied by this call."""
    migrations = discover(directory)
    applied_now: list[int] = []
    with (
        psycopg.connect(dsn, autocommit=True) as connection,
        advisory_lock(connection, MIGRATION_LOCK),
    ):
        connection.execute(_CREATE_LEDGER)
        rows = connection.execute("SELECT version, sha256 FROM public.schema_migrations").fetchall()
        recorded = {int(version): str(digest) for version, digest in rows}
        for migration in migrations:
            digest = recorded.get(migration.version)
            if digest is not None:
                if digest != migration.sha256:
                    raise MigrationError(
                        f"migration V{migration.version:03d} {migration.name} was edited "
                        "after it was applied; add a new migration instead"
                    )
                continue
            with connection.transaction():
                connection.execute(migration.sql.encode("utf-8"))
                connection.execute(
                    "INSERT INTO public.schema_migrations (version, name, sha256) "
                    "VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.sha256),
                )
            applied_now.append(migration.version)
    return applied_now


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options beyond the DSN."""


def command(dsn: str, args: argparse.Namespace) -> int:
    applied = migrate(dsn)  # a MigrationError is the command line's one-line refusal
    print(f"applied {len(applied)} migration(s): {applied}" if applied else "up to date")
    return 0
