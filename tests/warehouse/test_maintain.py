"""Warehouse maintenance on a real PostgreSQL: retention by partition, pruning, VACUUM."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import psycopg
import pytest

from pipelines.warehouse.cli import main
from pipelines.warehouse.maintain import maintain
from pipelines.warehouse.migrate import migrate

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


@pytest.fixture
def warehouse(empty_dsn: str) -> str:
    migrate(empty_dsn)
    with psycopg.connect(empty_dsn, autocommit=True) as connection:
        for parent in ("bronze.raw_transactions", "bronze.fraud_alerts", "bronze.dlq_events"):
            # 2026-08-20 .. 2026-11-26: days on both sides of every retention boundary
            connection.execute(
                "SELECT bronze.ensure_daily_partitions(%s::regclass, %s, %s)",
                (parent, "2026-08-20", "2026-11-26"),
            )
        connection.execute(
            "INSERT INTO bronze.raw_transaction_keys VALUES ('old', %s), ('kept', %s)",
            ("2026-10-26T23:59:00Z", "2026-10-27T00:00:00Z"),
        )
        connection.execute(
            "INSERT INTO silver.quality_check_results (check_name, measured_value, status, "
            "checked_at) VALUES ('old', 1, 'pass', %s), ('recent', 1, 'pass', %s)",
            ("2026-11-18T00:00:00Z", "2026-11-20T00:00:00Z"),
        )
    return empty_dsn


def _partitions(dsn: str, parent: str) -> list[str]:
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass ORDER BY 1",
            (parent,),
        ).fetchall()
    return [r[0] for r in rows]


def test_partitions_past_retention_are_dropped_and_younger_ones_kept(warehouse: str) -> None:
    report = maintain(warehouse, NOW)
    raw = _partitions(warehouse, "bronze.raw_transactions")
    # 30 days before 2026-11-26 06:00 is 2026-10-27 06:00: the day 10-26 ends before it.
    assert raw[0] == "raw_transactions_20261027"
    assert (
        "bronze.raw_transactions_20261026"
        in report["dropped_partitions"]["bronze.raw_transactions"]
    )
    assert _partitions(warehouse, "bronze.fraud_alerts")[0] == "fraud_alerts_20260828"
    assert _partitions(warehouse, "bronze.dlq_events")[0] == "dlq_events_20261027"
    assert report["quality_results_deleted"] == 1
    assert report["pruned_keys"]["bronze.raw_transaction_keys"] == 1
    with psycopg.connect(warehouse) as connection:
        keys = connection.execute("SELECT transaction_id FROM bronze.raw_transaction_keys")
        assert [k for (k,) in keys] == ["kept"]
    assert maintain(warehouse, NOW)["dropped_partitions"]["bronze.raw_transactions"] == []


def test_cli_prints_the_report(warehouse: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["maintain", "--dsn", warehouse, "--now", NOW.isoformat()]) == 0
    assert '"vacuumed"' in capsys.readouterr().out


def test_old_ops_events_are_pruned(warehouse: str) -> None:
    with psycopg.connect(warehouse) as connection:
        connection.execute(
            "INSERT INTO silver.ops_events (occurred_at, kind, severity, message) "
            "VALUES (%s, 'task_failed', 'error', 'old'), (%s, 'task_failed', 'error', 'recent')",
            ("2026-08-27T00:00:00Z", "2026-08-29T00:00:00Z"),
        )
    assert maintain(warehouse, NOW)["pruned_rows"]["silver.ops_events"] == 1


def test_cli_runs_only_the_steps_named(warehouse: str, capsys: pytest.CaptureFixture[str]) -> None:
    dsn_now = ["maintain", "--dsn", warehouse, "--now", NOW.isoformat()]
    assert main([*dsn_now, "--retention", "bronze.dlq_events"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["dropped_partitions"]) == ["bronze.dlq_events"]
    assert "pruned_rows" not in report
    assert "vacuumed" not in report
    assert _partitions(warehouse, "bronze.raw_transactions")[0] == "raw_transactions_20260820"
    assert main([*dsn_now, "--prune"]) == 0
    assert json.loads(capsys.readouterr().out)["quality_results_deleted"] == 1
    assert main([*dsn_now, "--vacuum"]) == 0
    assert "silver.ops_events" in json.loads(capsys.readouterr().out)["vacuumed"]
