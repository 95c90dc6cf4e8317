"""gold.challenger_quality on a real PostgreSQL: the challenger's verdicts written by the
pipeline's silver sink, compared with the champion's on the transactions decided so far, and
growing as verdicts arrive."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from pipelines.warehouse.migrate import migrate
from transforms.postgres_sink import CLEAN_TRANSACTIONS, _WriteBatchFn


@pytest.fixture
def warehouse(empty_dsn: str) -> str:
    migrate(empty_dsn)
    return empty_dsn


def _scored(tid: str, champion_alert: bool, challenger_alert: bool | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "transaction_id": tid,
        "customer_id": f"c-{tid}",
        "store_id": "s",
        "product_id": None,
        "amount": "10.00",
        "currency": "BRL",
        "payment_method": None,
        "latitude": None,
        "longitude": None,
        "event_time": "2026-10-08T10:00:00.000Z",
        "schema_version": 2,
        "fraud_score": 0.9 if champion_alert else 0.1,
        "rule_score": 0.9 if champion_alert else 0.1,
        "ml_score": None,
        "rules_triggered": [],
        "rule_details": {},
        "is_alert": champion_alert,
        "model_version": None,
        "rules_version": "rules-aaaaaaaaaaaa",
    }
    if challenger_alert is not None:
        score = 0.8 if challenger_alert else 0.2
        record["challenger"] = {
            "rules_version": "rules-bbbbbbbbbbbb",
            "model_version": None,
            "rule_score": score,
            "ml_score": None,
            "fraud_score": score,
            "rules_triggered": ["FR-001"] if challenger_alert else [],
            "is_alert": challenger_alert,
        }
    return record


def _verdict(connection: psycopg.Connection[Any], tid: str, label: str, day: int) -> None:
    connection.execute(
        "INSERT INTO silver.feedback (feedback_id, transaction_id, customer_id, store_id, label, "
        "reported_at, source) VALUES (%s, %s, %s, 's', %s, %s, 'console')",
        (uuid.uuid4(), tid, f"c-{tid}", label, f"2026-10-{day:02d}T12:00:00Z"),
    )


def _quality(dsn: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as connection:
        cursor = connection.execute("SELECT * FROM gold.challenger_quality")
        names = [column.name for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_precision_and_recall_of_both_on_the_decided_transactions(warehouse: str) -> None:
    writer = _WriteBatchFn(warehouse, CLEAN_TRANSACTIONS)
    writer.setup()
    # (champion alert, challenger alert) per transaction; "none": before the challenger.
    written = {
        "t1": (True, True),
        "t2": (True, False),
        "t3": (False, True),
        "t4": (False, False),
        "t5": (False, True),
        "before": (True, None),
    }
    list(writer.process([_scored(tid, *alerts) for tid, alerts in written.items()]))
    writer.teardown()
    with psycopg.connect(warehouse) as connection:
        stored = connection.execute(
            "SELECT challenger ->> 'rules_version' FROM silver.clean_transactions "
            "WHERE transaction_id = 't1'"
        ).fetchone()
    assert stored == ("rules-bbbbbbbbbbbb",)
    assert _quality(warehouse) == []  # nothing decided yet

    with psycopg.connect(warehouse) as connection:
        _verdict(connection, "t1", "fraud", 10)
        _verdict(connection, "t2", "genuine", 10)
        _verdict(connection, "t3", "fraud", 10)
        _verdict(connection, "t4", "genuine", 10)
        _verdict(connection, "before", "fraud", 10)  # not shadowed: not compared
    [row] = _quality(warehouse)
    assert row["challenger_rules_version"] == "rules-bbbbbbbbbbbb"
    assert row["champion_rules_version"] == "rules-aaaaaaaaaaaa"
    assert (row["decided"], row["frauds"]) == (4, 2)
    assert (row["champion_alerts"], row["champion_true_alerts"]) == (2, 1)
    assert (row["challenger_alerts"], row["challenger_true_alerts"]) == (2, 2)
    assert row["champion_precision"] == Decimal("0.5000")
    assert row["champion_recall"] == Decimal("0.5000")
    assert row["challenger_precision"] == Decimal("1.0000")
    assert row["challenger_recall"] == Decimal("1.0000")

    # A later verdict: t5 was genuine, and t1 was genuine after all (the latest report wins).
    with psycopg.connect(warehouse) as connection:
        _verdict(connection, "t5", "genuine", 11)
        _verdict(connection, "t1", "genuine", 12)
    [row] = _quality(warehouse)
    assert (row["decided"], row["frauds"]) == (5, 1)
    assert row["challenger_precision"] == Decimal("0.3333")  # t3 of t1, t3, t5
    assert row["champion_recall"] == Decimal("0.0000")  # t3 was missed
