"""The silver_to_gold DAG, run for real (``dag.test()``) over a seeded hour: every table's task
succeeds, gold holds exactly the facts, alerts and aggregates of the interval and its
lookback, and a second run changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from pipelines.warehouse.refresh import OBJECTS
from tests.airflow.dag_runs import assert_run, run_dag, task_states
from tests.warehouse.rows import insert_clean_transaction, insert_fraud_alert

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

LOGICAL_DATE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # the hour 11:00-12:00
HOUR = LOGICAL_DATE - timedelta(hours=1)

GOLD = {
    "facts": "SELECT f.transaction_id, c.customer_id, f.amount FROM gold.fact_transactions f "
    "JOIN gold.dim_customer c USING (customer_key) ORDER BY 1",
    "alerts": "SELECT transaction_id, rules_triggered FROM gold.fact_fraud_alerts",
    "hourly": "SELECT hour_start, transactions, total_amount, alerts FROM gold.agg_hourly_sales",
    "daily": "SELECT date_key, rule_id, alerts, transactions FROM gold.agg_daily_fraud "
    "ORDER BY 1, 2",
}


def _gold(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(dsn) as connection:
        return {
            name: [tuple(row) for row in connection.execute(sql).fetchall()]
            for name, sql in GOLD.items()
        }


def test_an_hour_reaches_gold_table_by_table(warehouse: str) -> None:
    with psycopg.connect(warehouse) as connection:
        for i, minute in enumerate((5, 20, 40)):
            at = HOUR + timedelta(minutes=minute)
            rules = ["FR-001"] if i == 1 else None  # the detector's alert
            insert_clean_transaction(connection, f"t{i}", f"c{i % 2}", "10.00", at, at, True, rules)
        # Changed in the lookback (15 minutes before the hour): read again, harmlessly.
        lookback = HOUR - timedelta(minutes=10)
        insert_clean_transaction(connection, "early", "c0", "5.00", lookback, lookback)
        # Changed before the lookback: another run's.
        old = HOUR - timedelta(minutes=30)
        insert_clean_transaction(connection, "old", "c0", "7.00", old, old)
        alerted = HOUR + timedelta(minutes=20)
        insert_fraud_alert(connection, "t1", "c1", "10.00", alerted, alerted, ["FR-001"])
    report = run_dag("silver_to_gold", LOGICAL_DATE, warehouse)
    assert report["data_interval"] == [HOUR.isoformat(), LOGICAL_DATE.isoformat()]
    assert_run(report)
    states = task_states(report)
    assert len(states) == len(OBJECTS)
    assert set(states.values()) == {"success"}
    gold = _gold(warehouse)
    assert gold["facts"] == [
        ("early", "c0", 5),
        ("t0", "c0", 10),
        ("t1", "c1", 10),
        ("t2", "c0", 10),
    ]
    assert gold["alerts"] == [("t1", ["FR-001"])]
    assert gold["hourly"] == [
        (HOUR - timedelta(hours=1), 1, 5, 0),
        (HOUR, 3, 30, 1),
    ]
    assert gold["daily"] == [(20261120, "ANY", 1, 4), (20261120, "FR-001", 1, 4)]
    # A re-run of the same interval changes nothing.
    assert_run(run_dag("silver_to_gold", LOGICAL_DATE, warehouse))
    assert _gold(warehouse) == gold
