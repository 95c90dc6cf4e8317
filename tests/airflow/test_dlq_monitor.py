"""The dlq_monitor DAG, run for real over seeded 5-minute intervals: above the threshold it
notifies (an ops event and a webhook post with the top error types and sample dlq_ids); at a
normal rate, or with too few input records, it stays quiet. Either way the run succeeds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.airflow.dag_runs import assert_run, ops_events, run_dag
from tests.airflow.webhook import recording_webhook
from tests.warehouse.rows import insert_dead_letters, insert_raw_transactions

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

LOGICAL_DATE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
INSIDE = LOGICAL_DATE - timedelta(minutes=2)  # in the interval 11:55-12:00


def _seed(dsn: str, valid: int, dead: int) -> list[str]:
    with psycopg.connect(dsn) as connection:
        insert_raw_transactions(connection, valid, INSIDE, INSIDE)
        ids = insert_dead_letters(connection, "INVALID_JSON", "parse", INSIDE, count=dead)
        insert_dead_letters(connection, "MISSING_FIELD", "validate", INSIDE, count=dead // 2)
    return ids


def test_a_high_rate_notifies_with_the_top_error_types(warehouse: str) -> None:
    invalid_json = _seed(warehouse, valid=60, dead=20)  # 30 of 90: a third
    with recording_webhook() as (url, posted):
        webhook = json.dumps({"conn_type": "http", "host": url})
        report = run_dag(
            "dlq_monitor",
            LOGICAL_DATE,
            warehouse,
            environment={"AIRFLOW_CONN_STREAMFLOW_WEBHOOK": webhook},
        )
    assert_run(report, "success", {"measure": "success", "alert": "success"})
    [(kind, severity, dag_id, task_id, message, details)] = ops_events(warehouse)
    assert (kind, severity, dag_id, task_id) == ("dlq_rate_high", "warning", "dlq_monitor", "alert")
    assert message.startswith("DLQ rate 33.3% of 90 input records")
    assert "INVALID_JSON (20), MISSING_FIELD (10)" in message
    top = details["top_error_types"]
    assert [entry["error_type"] for entry in top] == ["INVALID_JSON", "MISSING_FIELD"]
    assert set(top[0]["sample_dlq_ids"]) <= set(invalid_json)
    assert len(top[0]["sample_dlq_ids"]) == 3
    [event] = posted
    assert (event["kind"], event["details"]["dlq_rate"]) == ("dlq_rate_high", details["dlq_rate"])


def test_a_normal_rate_or_a_trickle_stays_quiet(warehouse: str) -> None:
    _seed(warehouse, valid=400, dead=2)  # 3 of 403: under 5%
    assert_run(run_dag("dlq_monitor", LOGICAL_DATE, warehouse))
    assert ops_events(warehouse) == []
    # All bad, but 3 records: under min_input_records.
    later = LOGICAL_DATE + timedelta(minutes=5)
    with psycopg.connect(warehouse) as connection:
        insert_dead_letters(connection, "INVALID_JSON", "parse", later - timedelta(minutes=1), 3)
    assert_run(run_dag("dlq_monitor", later, warehouse))
    assert ops_events(warehouse) == []
    # The same trickle is an alert once the threshold says so.
    conf = {"min_input_records": 1}
    assert_run(run_dag("dlq_monitor", later, warehouse, conf))
    assert [event[0] for event in ops_events(warehouse)] == ["dlq_rate_high"]
