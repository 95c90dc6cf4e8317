"""Migrations on a real PostgreSQL: apply, idempotence, refusal of edited migrations."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from pipelines.warehouse.cli import main
from pipelines.warehouse.migrate import MigrationError, discover, migrate
from pipelines.warehouse.sql_files import sql_folder

EXPECTED_TABLES = {
    ("bronze", "raw_transactions"),
    ("bronze", "fraud_alerts"),
    ("bronze", "dlq_events"),
    ("silver", "clean_transactions"),
    ("silver", "customers"),
    ("silver", "stores"),
    ("silver", "products"),
    ("silver", "quality_check_results"),
    ("gold", "dim_date"),
    ("gold", "dim_customer"),
    ("gold", "dim_store"),
    ("gold", "dim_product"),
    ("gold", "fact_transactions"),
    ("gold", "fact_fraud_alerts"),
    ("gold", "agg_hourly_sales"),
    ("gold", "agg_daily_fraud"),
}


def _tables(dsn: str) -> set[tuple[str, str]]:
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('bronze', 'silver', 'gold')"
        ).fetchall()
    return {(schema, name) for schema, name in rows}


def test_migrations_apply_on_an_empty_database_and_then_do_nothing(empty_dsn: str) -> None:
    versions = [m.version for m in discover()]
    assert migrate(empty_dsn) == versions
    assert _tables(empty_dsn) >= EXPECTED_TABLES
    assert migrate(empty_dsn) == []
    with psycopg.connect(empty_dsn) as connection:
        recorded = connection.execute(
            "SELECT version FROM public.schema_migrations ORDER BY version"
        ).fetchall()
    assert [v for (v,) in recorded] == versions


def test_an_edited_migration_is_refused(empty_dsn: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(sql_folder("migrations"), folder)
    migrate(empty_dsn, folder)
    first = sorted(folder.glob("V001__*.sql"))[0]
    first.write_text(first.read_text() + "\n-- a harmless-looking edit\n")
    with pytest.raises(MigrationError, match="edited after it was applied"):
        migrate(empty_dsn, folder)


def test_a_badly_named_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "001_schemas.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"V<NNN>__<name>\.sql"):
        discover(tmp_path)


def test_cli_reports_and_exit_codes(empty_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--dsn", empty_dsn]) == 0
    assert "applied" in capsys.readouterr().out
    assert main(["migrate", "--dsn", empty_dsn]) == 0
    assert "up to date" in capsys.readouterr().out


def test_daily_partitions_are_created_once_and_keep_replays_idempotent(fresh_dsn: str) -> None:
    migrate(fresh_dsn)
    with psycopg.connect(fresh_dsn, autocommit=True) as connection:
        created = connection.execute(
            "SELECT bronze.ensure_daily_partitions('bronze.raw_transactions', %s, %s)",
            ("2026-10-01", "2026-10-03"),
        ).fetchone()
        again = connection.execute(
            "SELECT bronze.ensure_daily_partitions('bronze.raw_transactions', %s, %s)",
            ("2026-10-01", "2026-10-03"),
        ).fetchone()
        assert (created, again) == ((3,), (0,))
        for _ in range(2):
            connection.execute(
                "INSERT INTO bronze.raw_transactions "
                "(transaction_id, customer_id, event_time, schema_version, source, raw_payload) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                ("t1", "c1", "2026-10-02T12:00:00Z", 2, "file:x:1", "{}"),
            )
        count = connection.execute("SELECT count(*) FROM bronze.raw_transactions_20261002")
        assert count.fetchone() == (1,)


def test_silver_refuses_half_a_location(fresh_dsn: str) -> None:
    migrate(fresh_dsn)
    with psycopg.connect(fresh_dsn) as connection, pytest.raises(psycopg.errors.CheckViolation):
        connection.execute(
            "INSERT INTO silver.clean_transactions (transaction_id, customer_id, store_id, "
            "amount, currency, latitude, event_time, schema_version, fraud_score, rule_score, "
            "is_alert, rules_version) VALUES "
            "('t', 'c', 's', 10, 'BRL', 1.0, now(), 2, 0.1, 0.1, false, 'r')"
        )


def test_a_folder_without_migrations_is_refused_not_up_to_date(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="no migrations"):
        discover(tmp_path)
