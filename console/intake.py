"""Open a case for every new alert: copy it from ``bronze.fraud_alerts`` to the queue.

The warehouse sink stamps each alert with ``ingested_at`` at its transaction's start, so a
sink transaction that started earlier may commit after a later one, behind the mark. Each
round opens the alerts ingested after the mark (at most ``BATCH``, the mark then moves to the
last of them); a round with ``lookback`` also opens any alert of the ``LOOKBACK`` before the
mark that has no case yet. A case already open is left alone.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg

LOOKBACK = timedelta(minutes=10)
BATCH = 50_000

_OPEN = (
    "INSERT INTO console.alert_cases (alert_id, transaction_id, customer_id, store_id, "
    " amount, currency, event_time, fraud_score, rules_triggered, detected_at) "
    "SELECT alert_id, transaction_id, customer_id, store_id, amount, currency, "
    " event_time, fraud_score, rules_triggered, detected_at FROM bronze.fraud_alerts "
    "WHERE (%(since)s::timestamptz IS NULL OR ingested_at > %(since)s) "
    "AND ingested_at <= %(until)s "
    "ON CONFLICT (alert_id) DO NOTHING"
)


def intake(connection: psycopg.Connection, *, lookback: bool = True) -> int:
    """Open the cases of alerts ingested since the mark (and, with ``lookback``, of late
    commits before it); how many were opened."""
    with connection.transaction():
        # One intake at a time per database: the mark moves forward only.
        row = connection.execute(
            "SELECT ingested_at FROM console.intake_mark FOR UPDATE"
        ).fetchone()
        mark = row[0] if row else None
        found = connection.execute(
            "SELECT max(ingested_at) FROM ("
            " SELECT ingested_at FROM bronze.fraud_alerts"
            " WHERE %(mark)s::timestamptz IS NULL OR ingested_at > %(mark)s"
            " ORDER BY ingested_at LIMIT %(batch)s) AS batch",
            {"mark": mark, "batch": BATCH},
        ).fetchone()
        until = found[0] if found and found[0] is not None else mark
        if until is None:
            return 0  # no alert yet
        opened = connection.execute(_OPEN, {"since": mark, "until": until}).rowcount
        if lookback and mark is not None:
            late = {"since": mark - LOOKBACK, "until": mark}
            opened += connection.execute(_OPEN, late).rowcount
        connection.execute(
            "INSERT INTO console.intake_mark (ingested_at) VALUES (%s) ON CONFLICT (singleton) "
            "DO UPDATE SET ingested_at = greatest(console.intake_mark.ingested_at, "
            "excluded.ingested_at)",
            (until,),
        )
    return opened
