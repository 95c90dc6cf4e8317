"""The intake opens one case per alert, including alerts whose sink committed late."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

import console.intake
from console.intake import LOOKBACK, intake
from tests.console.seed import BASE_TIME, seed_alerts


def test_each_alert_gets_one_case_even_when_it_arrives_late(
    warehouse_dsn: str, console_dsn: str
) -> None:
    seeded = seed_alerts(warehouse_dsn, 4, prefix="in", store_id="s-intake")
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        assert intake(connection) == 0  # every alert has its case already
        mark = connection.execute("SELECT ingested_at FROM console.intake_mark").fetchone()
    assert mark is not None
    with psycopg.connect(warehouse_dsn, autocommit=True) as connection:
        # A sink transaction that started before the mark and committed after it.
        connection.execute(
            "INSERT INTO bronze.fraud_alerts (alert_id, transaction_id, customer_id, store_id, "
            "amount, currency, event_time, fraud_score, rule_score, rules_triggered, "
            "rule_details, explanation, rules_version, detected_at, ingested_at) VALUES "
            "(gen_random_uuid(), 'late', 'c9', 's-intake', 10, 'BRL', %s, 0.8, 0.8, "
            "'{FR-002}', '{}', 'x', 'r1', %s, %s)",
            (BASE_TIME, BASE_TIME, mark[0] - LOOKBACK / 2),
        )
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        assert intake(connection) == 1
        assert intake(connection) == 0
        cases = connection.execute(
            "SELECT transaction_id, status FROM console.alert_cases WHERE store_id = 's-intake' "
            "ORDER BY transaction_id"
        ).fetchall()
    assert cases == sorted([(a.transaction_id, "open") for a in seeded] + [("late", "open")])


def test_a_burst_larger_than_a_batch_is_opened_over_rounds(
    warehouse_dsn: str, console_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More alerts inside one look-back than a round takes: the mark must still move on.
    monkeypatch.setattr(console.intake, "BATCH", 3)
    with psycopg.connect(warehouse_dsn, autocommit=True) as connection:
        mark = connection.execute("SELECT ingested_at FROM console.intake_mark").fetchone()
        base = mark[0] if mark else BASE_TIME
        for i in range(10):
            connection.execute(
                "INSERT INTO bronze.fraud_alerts (alert_id, transaction_id, customer_id, "
                "store_id, amount, currency, event_time, fraud_score, rule_score, "
                "rules_triggered, rule_details, explanation, rules_version, detected_at, "
                "ingested_at) VALUES (gen_random_uuid(), %s, 'c', 's-burst', 10, 'BRL', %s, "
                "0.8, 0.8, '{FR-002}', '{}', 'x', 'r1', %s, %s)",
                (f"burst{i}", BASE_TIME, BASE_TIME, base + timedelta(seconds=i + 1)),
            )
    opened = 0
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        for _ in range(10):
            opened += intake(connection, lookback=False)
        cases = connection.execute(
            "SELECT count(*) FROM console.alert_cases WHERE store_id = 's-burst'"
        ).fetchone()
    assert (opened, cases) == (10, (10,))
