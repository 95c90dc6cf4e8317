"""Warehouse maintenance: ``python -m pipelines.warehouse maintain --dsn DSN [--now ISO]``.

Drops bronze partitions past their retention (raw transactions 30 days, alerts 90, DLQ 30)
and the ids of their rows from the key registries,
prunes quality check results older than 7 days, then runs VACUUM (ANALYZE) on the tables it
touched. VACUUM cannot run inside a transaction block, so the connection is in autocommit
mode. ``--now`` pins the clock (tests, backfills). Prints a JSON report.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

import psycopg

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
QUALITY_RESULTS_RETENTION_DAYS = 7


def maintain(dsn: str, now: datetime) -> dict[str, Any]:
    report: dict[str, Any] = {"now": now.isoformat(), "dropped_partitions": {}}
    with psycopg.connect(dsn, autocommit=True) as connection:
        for parent, days in PARTITION_RETENTION_DAYS.items():
            rows = connection.execute(
                read_sql("maintenance", "drop_expired_partitions.sql"),
                {"parent": parent, "retention_days": days, "now": now},
            ).fetchall()
            report["dropped_partitions"][parent] = sorted(row[0] for row in rows)
            registry, column = KEY_REGISTRIES[parent]
            # Identifiers come from the constants above; values are parameters.
            pruned = connection.execute(
                f"DELETE FROM {registry} WHERE {column} < date_trunc('day', "
                "%(now)s::timestamptz - make_interval(days => %(days)s), 'UTC')",
                {"now": now, "days": days},
            )
            report.setdefault("pruned_keys", {})[registry] = pruned.rowcount
        deleted = connection.execute(
            read_sql("maintenance", "prune_quality_results.sql"),
            {"retention_days": QUALITY_RESULTS_RETENTION_DAYS, "now": now},
        ).fetchone()
        report["quality_results_deleted"] = deleted[0] if deleted else 0
        vacuumed = [
            *PARTITION_RETENTION_DAYS,
            *(registry for registry, _ in KEY_REGISTRIES.values()),
            "silver.quality_check_results",
        ]
        for table in vacuumed:
            # Table names come from the constants above, never from input.
            connection.execute(f"VACUUM (ANALYZE) {table}")
        report["vacuumed"] = vacuumed
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--now",
        type=datetime.fromisoformat,
        default=datetime.now(UTC),
        help="The clock retention is measured against, ISO-8601 (default: now).",
    )


def command(dsn: str, args: argparse.Namespace) -> int:
    print(json.dumps(maintain(dsn, args.now), indent=2))
    return 0
