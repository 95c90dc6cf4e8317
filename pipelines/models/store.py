"""``silver.model_registry``'s registered versions (those with an ``effective_from``), as rows
and as the contract's records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from transforms.domain.model_registry import ModelChange

_COLUMNS = (
    "registry_id, model_version, model_sha256, location, effective_from, decided_at, author, "
    "note, backtest, published_at, role, effective_until"
)


@dataclass(frozen=True, slots=True)
class Registration:
    registry_id: int
    model_version: str
    model_sha256: str
    location: str
    effective_from: datetime
    registered_at: datetime
    author: str
    note: str
    backtest: str | None
    published_at: datetime | None
    role: str
    effective_until: datetime | None

    def change(self) -> ModelChange:
        return ModelChange(
            self.model_version,
            self.model_sha256,
            self.location,
            _millis(self.effective_from),
            _millis(self.registered_at),
            self.author,
            self.note,
            self.role,
            None if self.effective_until is None else _millis(self.effective_until),
        )


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def insert(
    connection: psycopg.Connection[Any],
    change: ModelChange,
    effective_from: datetime,
    backtest: str | None,
    metadata: dict[str, Any],
    effective_until: datetime | None = None,
) -> Registration:
    """A new row, in the caller's transaction; registered (``decided_at``) by the server's
    clock. The artifact's training and metrics are kept as a promotion keeps them."""
    row = connection.execute(
        "INSERT INTO silver.model_registry (decided_at, model_version, model_sha256, promoted, "
        "reason, location, training, metrics, effective_from, author, note, backtest, role, "
        "effective_until) "
        "VALUES (clock_timestamp(), %s, %s, true, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        f"RETURNING {_COLUMNS}",
        (
            change.model_version,
            change.sha256,
            f"registered as {change.role} from an instant",
            change.location,
            json.dumps(metadata.get("training") or {}),
            json.dumps(metadata.get("metrics") or {}),
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


def mark_published(connection: psycopg.Connection[Any], registry_id: int) -> None:
    connection.execute(
        "UPDATE silver.model_registry SET published_at = clock_timestamp() WHERE registry_id = %s",
        (registry_id,),
    )


def delete(connection: psycopg.Connection[Any], registry_id: int) -> None:
    connection.execute("DELETE FROM silver.model_registry WHERE registry_id = %s", (registry_id,))


def registrations(
    connection: psycopg.Connection[Any], published_only: bool = False
) -> list[Registration]:
    """Every registered version (or every one published), in the order they take effect."""
    published = "AND published_at IS NOT NULL " if published_only else ""
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM silver.model_registry WHERE effective_from IS NOT NULL "
        f"{published}ORDER BY effective_from, decided_at"
    ).fetchall()
    return [Registration(*row) for row in rows]
