"""Warehouse maintenance: ``python -m pipelines.warehouse maintain --dsn DSN [--now ISO] [STEPS]``.

Three steps, all by default, or only those named (the maintenance DAG runs each as a task):
``--retention TABLE`` drops one bronze table's partitions past their retention (raw
transactions 30 days, alerts 90, DLQ 30) and the ids of their rows from its key registry;
``--prune`` deletes quality check results older than 7 days and orchestration events older
than 90; ``--vacuum`` runs VACUUM (ANALYZE) on every table the other steps touch. VACUUM cannot
run inside a transaction block, so the connection is in autocommit mode. ``--now`` pins the
clock (tests, backfills). Prints a JSON report.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

from pipelines.warehouse.options import iso_instant
from pipelines.warehouse.sql_files import read_sql

PARTITION_RETENTION_DAYS = {
    "bronze.raw_transactions": 30,
    "bronze.fraud_alerts": 90,
    "bronze.dlq_events": 30,
}
# The id registries of the partitioned tables (V002) and their time column: a key leaves
# with the day that held its row.
KEY_REGISTRIES = {
    "bronze.raw_transactions": ("bronze.raw_transaction_keys", "event_time"),
    "bronze.fraud_alerts": ("bronze.fraud_alert_keys", "event_time"),
    "bronze.dlq_events": ("bronze.dlq_event_keys", "received_at"),
}
# Pruned tables: their SQL file and retention in days.
PRUNED = {
    "silver.quality_check_results": ("prune_quality_results.sql", 7),
    "silver.ops_events": ("prune_ops_events.sql", 90),
}
VACUUMED = (
    *PARTITION_RETENTION_DAYS,
    *(registry for registry, _ in KEY_REGISTRIES.values()),
    *PRUNED,
)

Connection = psycopg.Connection[tuple[Any, ...]]


def drop_expired(connection: Connection, parent: str, now: datetime) -> dict[str, Any]:
    days = PARTITION_RETENTION_DAYS[parent]
    rows = connection.execute(
        read_sql("maintenance", "drop_expired_partitions.sql"),
        {"parent": parent, "retention_days": days, "now": now},
    ).fetchall()
    registry, column = KEY_REGISTRIES[parent]
    # Identifiers come from the constants above; values are parameters.
    pruned = connection.execute(
        f"DELETE FROM {registry} WHERE {column} < date_trunc('day', "
        "%(now)s::timestamptz - make_interval(days => %(days)s), 'UTC')",
        {"now": now, "days": days},
    )
    return {"dropped_partitions": sorted(row[0] for row in rows), "pruned_keys": pruned.rowcount}


def prune(connection: Connection, now: datetime) -> dict[str, int]:
    deleted = {}
    for table, (sql_file, days) in PRUNED.items():
        row = connection.execute(
            read_sql("maintenance", sql_file), {"retention_days": days, "now": now}
        ).fetchone()
        deleted[table] = row[0] if row else 0
    return deleted


def vacuum(connection: Connection) -> list[str]:
    for table in VACUUMED:
        # Table names come from the constants above, never from input.
        connection.execute(f"VACUUM (ANALYZE) {table}")
    return list(VACUUMED)


def maintain(
    dsn: str,
    now: datetime,
    retention: Sequence[str] = tuple(PARTITION_RETENTION_DAYS),
    prune_tables: bool = True,
    vacuum_tables: bool = True,
) -> dict[str, Any]:
    report: dict[str, Any] = {"now": now.isoformat()}
    with psycopg.connect(dsn, autocommit=True) as connection:
        for parent in retention:
            dropped = drop_expired(connection, parent, now)
            report.setdefault("dropped_partitions", {})[parent] = dropped["dropped_partitions"]
            registry = KEY_REGISTRIES[parent][0]
            report.setdefault("pruned_keys", {})[registry] = dropped["pruned_keys"]
        if prune_tables:
            deleted = prune(connection, now)
            report["pruned_rows"] = deleted
            report["quality_results_deleted"] = deleted["silver.quality_check_results"]
        if vacuum_tables:
            report["vacuumed"] = vacuum(connection)
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--now",
        type=iso_instant,
        default=datetime.now(UTC),
        help="The clock retention is measured against, ISO-8601 (default: now).",
    )
    parser.add_argument(
        "--retention",
        action="append",
        choices=sorted(PARTITION_RETENTION_DAYS),
        metavar="TABLE",
        help="Drop this table's expired partitions (repeatable).",
    )
    parser.add_argument("--prune", action="store_true", help="Prune the result tables.")
    parser.add_argument("--vacuum", action="store_true", help="VACUUM (ANALYZE) the tables.")


def command(dsn: str, args: argparse.Namespace) -> int:
    every_step = not (args.retention or args.prune or args.vacuum)
    report = maintain(
        dsn,
        args.now,
        retention=tuple(PARTITION_RETENTION_DAYS) if every_step else (args.retention or ()),
        prune_tables=every_step or args.prune,
        vacuum_tables=every_step or args.vacuum,
    )
    print(json.dumps(report, indent=2))
    return 0
