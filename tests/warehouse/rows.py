"""Seeding the warehouse in tests: a scored transaction row written straight into silver."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def insert_clean_transaction(
    connection: Any,
    transaction_id: str,
    customer_id: str,
    amount: str,
    event_time: datetime,
    updated_at: datetime,
    located: bool = True,
    alert_rules: list[str] | None = None,
) -> None:
    """One ``silver.clean_transactions`` row: a BRL purchase at store ``s``, with or without
    coordinates, low-risk, or an alert of ``alert_rules`` as the detector scored it."""
    score = 0.9 if alert_rules else 0.1
    connection.execute(
        "INSERT INTO silver.clean_transactions (transaction_id, customer_id, store_id, "
        "amount, currency, latitude, longitude, event_time, schema_version, fraud_score, "
        "rule_score, rules_triggered, is_alert, rules_version, updated_at) VALUES "
        "(%s, %s, 's', %s, 'BRL', %s, %s, %s, 2, %s, %s, %s, %s, 'r', %s)",
        (
            transaction_id,
            customer_id,
            amount,
            -23.5 if located else None,
            -46.6 if located else None,
            event_time,
            score,
            score,
            alert_rules or [],
            bool(alert_rules),
            updated_at,
        ),
    )


def insert_dead_letters(
    connection: Any,
    error_type: str,
    stage: str,
    received_at: datetime,
    count: int = 10,
    prefix: str = "",
) -> list[str]:
    """``count`` rows of ``bronze.dlq_events`` received at one moment; returns their ids."""
    connection.execute(
        "SELECT bronze.ensure_daily_partitions('bronze.dlq_events', %s, %s)",
        (received_at.date(), received_at.date()),
    )
    ids = [f"{prefix}{stage}-{i}" for i in range(count)]
    for dlq_id in ids:
        connection.execute(
            "INSERT INTO bronze.dlq_events (dlq_id, error_type, error_message, stage, "
            "source, raw_payload, truncated, raw_size_bytes, pipeline_version, received_at) "
            "VALUES (%s, %s, 'x', %s, 'f:1', '{', false, 1, 'v', %s)",
            (dlq_id, error_type, stage, received_at),
        )
    return ids


def insert_raw_transactions(
    connection: Any, count: int, event_time: datetime, ingested_at: datetime, prefix: str = "raw"
) -> None:
    """``count`` valid input records in ``bronze.raw_transactions``, ingested at one moment."""
    connection.execute(
        "SELECT bronze.ensure_daily_partitions('bronze.raw_transactions', %s, %s)",
        (event_time.date(), event_time.date()),
    )
    for i in range(count):
        connection.execute(
            "INSERT INTO bronze.raw_transactions (transaction_id, customer_id, event_time, "
            "schema_version, source, raw_payload, ingested_at) "
            "VALUES (%s, 'c', %s, 2, %s, '{}', %s)",
            (f"{prefix}{i}", event_time, f"{prefix}:{i}", ingested_at),
        )


def insert_fraud_alert(
    connection: Any,
    transaction_id: str,
    customer_id: str,
    amount: str,
    event_time: datetime,
    ingested_at: datetime,
    rules: list[str],
) -> None:
    """One ``bronze.fraud_alerts`` row at store ``s`` that reached bronze at ``ingested_at``."""
    connection.execute(
        "SELECT bronze.ensure_daily_partitions('bronze.fraud_alerts', %s, %s)",
        (event_time.date(), event_time.date()),
    )
    connection.execute(
        "INSERT INTO bronze.fraud_alerts (alert_id, transaction_id, customer_id, store_id, "
        "amount, currency, event_time, fraud_score, rule_score, rules_triggered, rule_details, "
        "explanation, rules_version, detected_at, ingested_at) VALUES (gen_random_uuid(), %s, "
        "%s, 's', %s, 'BRL', %s, 0.9, 0.9, %s, '{}', 'x', 'r', %s, %s)",
        (transaction_id, customer_id, amount, event_time, rules, ingested_at, ingested_at),
    )
