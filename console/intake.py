"""Open a case for every new alert: copy it from ``bronze.fraud_alerts`` to the queue.

The warehouse sink stamps each alert with ``ingested_at`` at its transaction's start, so a
sink transaction that started earlier may commit after a later one: the intake reads from
``LOOKBACK`` before its mark, and a case already open is left alone.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg

LOOKBACK = timedelta(minutes=10)
BATCH = 50_000


def intake(connection: psycopg.Connection) -> int:
    """Open the cases of alerts ingested since the last mark; how many were opened."""
    with connection.transaction():
        # One intake at a time per database: the mark moves forward only.
        row = connection.execute(
            "SELECT ingested_at FROM console.intake_mark FOR UPDATE"
        ).fetchone()
        since = row[0] - LOOKBACK if row else None
        found = connection.execute(
            "SELECT max(ingested_at) FROM ("
            " SELECT ingested_at FROM bronze.fraud_alerts"
            " WHERE %s::timestamptz IS NULL OR ingested_at > %s"
            " ORDER BY ingested_at LIMIT %s) AS batch",
            (since, since, BATCH),
        ).fetchone()
        until = found[0] if found else None
        if until is None:
            return 0
        opened = connection.execute(
            "INSERT INTO console.alert_cases (alert_id, transaction_id, customer_id, store_id, "
            " amount, currency, event_time, fraud_score, rules_triggered, detected_at) "
            "SELECT alert_id, transaction_id, customer_id, store_id, amount, currency, "
            " event_time, fraud_score, rules_triggered, detected_at FROM bronze.fraud_alerts "
            "WHERE (%s::timestamptz IS NULL OR ingested_at > %s) AND ingested_at <= %s "
            "ON CONFLICT (alert_id) DO NOTHING",
            (since, since, until),
        ).rowcount
        connection.execute(
            "INSERT INTO console.intake_mark (ingested_at) VALUES (%s) ON CONFLICT (singleton) "
            "DO UPDATE SET ingested_at = greatest(console.intake_mark.ingested_at, "
            "excluded.ingested_at)",
            (until,),
        )
    return opened
