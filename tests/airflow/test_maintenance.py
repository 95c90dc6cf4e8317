"""The maintenance DAG, run for real on a warehouse with partitions on both sides of every
retention boundary: each table's retention task drops exactly its expired days (measured
against the run's data interval, not the wall clock), pruning and VACUUM follow."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from tests.airflow.dag_runs import assert_run, run_dag

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

# The daily run at 03:30 on Nov 26 covers Nov 25 03:30 - Nov 26 03:30; retention is measured
# from the interval's end.
LOGICAL_DATE = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)


def _first_partition(connection: psycopg.Connection[tuple[str]], parent: str) -> str:
    row = connection.execute(
        "SELECT min(c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass",
        (parent,),
    ).fetchone()
    assert row is not None
    return row[0]


def test_retention_per_table_then_pruning_then_vacuum(warehouse: str) -> None:
    parents = ("bronze.raw_transactions", "bronze.fraud_alerts", "bronze.dlq_events")
    with psycopg.connect(warehouse) as connection:
        for parent in parents:
            connection.execute(
                "SELECT bronze.ensure_daily_partitions(%s::regclass, %s, %s)",
                (parent, "2026-08-20", "2026-11-26"),
            )
        connection.execute(
            "INSERT INTO silver.quality_check_results (check_name, measured_value, status, "
            "checked_at) VALUES ('old', 1, 'pass', '2026-11-18T00:00:00Z'), "
            "('recent', 1, 'pass', '2026-11-20T00:00:00Z')"
        )
    report = run_dag("maintenance", LOGICAL_DATE, warehouse)
    assert_run(
        report,
        "success",
        {
            "retention[0]": "success",
            "retention[1]": "success",
            "retention[2]": "success",
            "prune": "success",
            "vacuum": "success",
        },
    )
    with psycopg.connect(warehouse) as connection:
        # 30 days before 2026-11-26 03:30 is 2026-10-27 03:30: the day 10-26 ends before it.
        assert _first_partition(connection, "bronze.raw_transactions") == (
            "raw_transactions_20261027"
        )
        assert _first_partition(connection, "bronze.dlq_events") == "dlq_events_20261027"
        assert _first_partition(connection, "bronze.fraud_alerts") == "fraud_alerts_20260828"
        remaining = connection.execute("SELECT check_name FROM silver.quality_check_results")
        assert [name for (name,) in remaining] == ["recent"]
        analyzed = connection.execute(
            "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
            "WHERE schemaname = 'silver' AND relname = 'ops_events'"
        ).fetchone()
        assert analyzed == (True,)
