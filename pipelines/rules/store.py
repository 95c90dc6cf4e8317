"""``silver.rules_registry``: the registered versions, as rows and as the contract's records."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import psycopg

from transforms.domain.effective import CHAMPION
from transforms.domain.rules_registry import RulesChange, new_rules_change

_COLUMNS = (
    "registration_id, rules_version, rules_sha256, rules_text, effective_from, registered_at, "
    "author, note, backtest, published_at, role, effective_until"
)


@dataclass(frozen=True, slots=True)
class Registration:
    registration_id: int
    rules_version: str
    rules_sha256: str
    rules_text: str
    effective_from: datetime
    registered_at: datetime
    author: str
    note: str
    backtest: str | None
    published_at: datetime | None
    role: str
    effective_until: datetime | None

    def change(self) -> RulesChange:
        """The contract's record of this version (``ValueError`` if its text no longer parses
        as a rules file of this release)."""
        change = new_rules_change(
            self.rules_text,
            _millis(self.effective_from),
            _millis(self.registered_at),
            self.author,
            self.note,
        )
        until = None if self.effective_until is None else _millis(self.effective_until)
        return replace(change, role=self.role, effective_until_ms=until)


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def insert(
    connection: psycopg.Connection[Any],
    change: RulesChange,
    effective_from: datetime,
    backtest: str | None,
    effective_until: datetime | None = None,
) -> Registration:
    """A new row, in the caller's transaction; ``registered_at`` is the server's clock."""
    row = connection.execute(
        "INSERT INTO silver.rules_registry (rules_version, rules_sha256, rules_text, "
        "effective_from, author, note, backtest, role, effective_until) "
        f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
        (
            change.rules_version,
            change.sha256,
            change.rules_text,
            effective_from,
            change.author,
            change.note,
            backtest,
            change.role,
            effective_until,
        ),
    ).fetchone()
    assert row is not None  # INSERT ... RETURNING gives one row
    return Registration(*row)


def mark_published(connection: psycopg.Connection[Any], registration_id: int) -> None:
    connection.execute(
        "UPDATE silver.rules_registry SET published_at = clock_timestamp() "
        "WHERE registration_id = %s",
        (registration_id,),
    )


def delete(connection: psycopg.Connection[Any], registration_id: int) -> None:
    connection.execute(
        "DELETE FROM silver.rules_registry WHERE registration_id = %s", (registration_id,)
    )


def registrations(
    connection: psycopg.Connection[Any], published_only: bool = False, role: str | None = None
) -> list[Registration]:
    """Every version (or every one published, or of one role), in the order they take effect
    (then of registration)."""
    conditions = ["published_at IS NOT NULL"] if published_only else []
    if role is not None:
        conditions.append("role = %(role)s")
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM silver.rules_registry {where}"
        "ORDER BY effective_from, registered_at",
        {"role": role},
    ).fetchall()
    return [Registration(*row) for row in rows]


def find(connection: psycopg.Connection[Any], reference: str) -> Registration | None:
    """A registration by its id, or the latest registration of a content version."""
    if reference.isdigit():
        where, value = "registration_id = %s", int(reference)
    else:
        where, value = "rules_version = %s", reference  # type: ignore[assignment]
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM silver.rules_registry WHERE {where} "
        "ORDER BY registered_at DESC LIMIT 1",
        (value,),
    ).fetchone()
    return Registration(*row) if row else None


def latest_champion(connection: psycopg.Connection[Any]) -> Registration | None:
    """The published champion version that takes effect last: what a new version is checked
    against (it must keep the same state)."""
    rows = registrations(connection, published_only=True, role=CHAMPION)
    return rows[-1] if rows else None


def find_by_id(connection: psycopg.Connection[Any], registration_id: int) -> Registration | None:
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM silver.rules_registry WHERE registration_id = %s",
        (registration_id,),
    ).fetchone()
    return Registration(*row) if row else None
