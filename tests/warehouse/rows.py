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
) -> None:
    """One ``silver.clean_transactions`` row: a low-risk BRL purchase at store ``s``, with or
    without coordinates."""
    connection.execute(
        "INSERT INTO silver.clean_transactions (transaction_id, customer_id, store_id, "
        "amount, currency, latitude, longitude, event_time, schema_version, fraud_score, "
        "rule_score, is_alert, rules_version, updated_at) VALUES "
        "(%s, %s, 's', %s, 'BRL', %s, %s, %s, 2, 0.1, 0.1, false, 'r', %s)",
        (
            transaction_id,
            customer_id,
            amount,
            -23.5 if located else None,
            -46.6 if located else None,
            event_time,
            updated_at,
        ),
    )
