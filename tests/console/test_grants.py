"""The console's database role holds only the grants it needs (V011 creates it)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from pipelines.warehouse.migrate import migrate
from pipelines.warehouse.scratch import scratch_database


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM console.case_events",
        "UPDATE console.case_events SET note = 'rewritten'",
        "UPDATE silver.feedback SET label = 'genuine'",
        "DELETE FROM silver.feedback",
        "DELETE FROM console.alert_cases",
        "DELETE FROM console.outbox",
        "INSERT INTO bronze.fraud_alerts (alert_id) VALUES (gen_random_uuid())",
        "UPDATE silver.clean_transactions SET fraud_score = 0",
        "DELETE FROM silver.model_registry",
        "UPDATE silver.rules_registry SET rules_text = ''",
        "DELETE FROM silver.rules_registry",
        "DELETE FROM console.backtests",
        "SELECT * FROM bronze.raw_transactions",
        "CREATE TABLE console.mine (x int)",
        "DROP TABLE console.users",
        "UPDATE console.users SET role = 'supervisor'",
    ],
)
def test_the_console_role_cannot(console_dsn: str, statement: str) -> None:
    with (
        psycopg.connect(console_dsn, autocommit=True) as connection,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        connection.execute(statement)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT count(*) FROM bronze.fraud_alerts",
        "SELECT count(*) FROM bronze.dlq_events",
        "SELECT count(*) FROM silver.clean_transactions",
        "SELECT count(*) FROM silver.stores",
        "SELECT count(*) FROM silver.feedback",
        "SELECT count(*) FROM console.case_events",
        "SELECT count(*) FROM console.backtests",
        "SELECT count(*) FROM silver.rules_registry",
        "SELECT count(*) FROM silver.model_registry",
        "SELECT count(*) FROM gold.challenger_quality",
    ],
)
def test_the_console_role_reads_what_it_shows(console_dsn: str, query: str) -> None:
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        assert connection.execute(query).fetchone() is not None


def test_a_second_database_migrates_beside_the_existing_role(
    server_dsn: str, console_dsn: str
) -> None:
    # Roles belong to the cluster: the role exists already, and the migration grants anew.
    with scratch_database(server_dsn) as other:
        assert migrate(other) == []
        with psycopg.connect(make_conninfo(other, user="streamflow_console")) as connection:
            assert connection.execute("SELECT count(*) FROM console.users").fetchone() == (0,)


def test_a_published_rules_version_stays_published(warehouse_dsn: str, console_dsn: str) -> None:
    """The console may mark its promotion published, never take a published one back."""
    with psycopg.connect(warehouse_dsn, autocommit=True) as connection:
        row = connection.execute(
            "INSERT INTO silver.rules_registry (rules_version, rules_sha256, rules_text, "
            "effective_from, author, published_at) VALUES ('rules-000000000000', "
            "repeat('0', 64), '', now() + interval '1 hour', 'ana', now()) "
            "RETURNING registration_id"
        ).fetchone()
    assert row is not None
    with (
        psycopg.connect(console_dsn, autocommit=True) as connection,
        pytest.raises(psycopg.errors.RaiseException, match="stays so"),
    ):
        connection.execute(
            "UPDATE silver.rules_registry SET published_at = NULL WHERE registration_id = %s",
            row,
        )
