"""Apply the warehouse migrations: ``python -m pipelines.migrate --dsn DSN``.

Migrations are the files ``sql/migrations/V<NNN>__<name>.sql``, applied in version order, each
in its own transaction together with its row in ``public.schema_migrations`` (version, name,
SHA-256, applied at). A migration already applied is skipped; one whose file changed since it
was applied is refused: the fix for a released migration is a new migration. Concurrent
runners are serialised by an advisory lock. The DSN comes from ``--dsn`` or the
``STREAMFLOW_PG_DSN`` environment variable, never from code.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from pipelines.warehouse_cli import add_dsn_argument, required_dsn

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "sql" / "migrations"
_FILE_NAME = re.compile(r"V(\d{3,})__([a-z0-9_]+)\.sql")
_LOCK_KEY = 7_246_817_001  # any constant shared by every runner of this project

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


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if not match:
            raise MigrationError(f"{path.name}: expected V<NNN>__<name>.sql")
        migrations.append(
            Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8"))
        )
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return sorted(migrations, key=lambda m: m.version)


def migrate(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply pending migrations; returns the versions applied by this call."""
    migrations = discover(directory)
    applied_now: list[int] = []
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            connection.execute(_CREATE_LEDGER)
            rows = connection.execute(
                "SELECT version, sha256 FROM public.schema_migrations"
            ).fetchall()
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
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_dsn_argument(parser)
    args = parser.parse_args(argv)
    dsn = required_dsn(parser, args)
    try:
        applied = migrate(dsn)
    except MigrationError as error:
        print(f"migration refused: {error}", file=sys.stderr)
        return 1
    print(f"applied {len(applied)} migration(s): {applied}" if applied else "up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
