"""What the alert page shows beside the case: the alert's evidence as the pipeline wrote it,
the transaction, the customer's recent transactions, the store's risk and related alerts.

Each comes from the warehouse by an index: the alert by its id and event time (one daily
partition), the customer's and the store's transactions by ``(customer_id, event_time)`` and
``(store_id, event_time)``. The evidence is gone once its partition passes the 90-day
retention; the case and its history stay.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

TIMELINE_LENGTH = 50
RELATED_LIMIT = 20
STORE_WINDOWS_DAYS = (1, 7, 30)


def _one(
    connection: psycopg.Connection, query: str, params: tuple[Any, ...]
) -> dict[str, Any] | None:
    with connection.cursor(row_factory=dict_row) as rows:
        return rows.execute(query, params).fetchone()


def _all(
    connection: psycopg.Connection, query: str, params: tuple[Any, ...]
) -> list[dict[str, Any]]:
    with connection.cursor(row_factory=dict_row) as rows:
        return rows.execute(query, params).fetchall()


def alert_evidence(
    connection: psycopg.Connection, alert_id: uuid.UUID, event_time: datetime
) -> dict[str, Any] | None:
    """The alert as the pipeline wrote it: rule scores with their evidence, the model's score
    and version, the explanation; ``None`` after retention."""
    return _one(
        connection,
        "SELECT fraud_score, rule_score, ml_score, rules_triggered, rule_details, explanation, "
        "model_version, rules_version, detected_at, model_inputs, model_reasons "
        "FROM bronze.fraud_alerts "
        "WHERE alert_id = %s AND event_time = %s",
        (alert_id, event_time),
    )


def transaction(connection: psycopg.Connection, transaction_id: str) -> dict[str, Any] | None:
    return _one(
        connection,
        "SELECT transaction_id, customer_id, store_id, product_id, amount, currency, "
        "payment_method, latitude, longitude, event_time, fraud_score, is_alert "
        "FROM silver.clean_transactions WHERE transaction_id = %s",
        (transaction_id,),
    )


def customer_timeline(
    connection: psycopg.Connection, customer_id: str, until: datetime
) -> list[dict[str, Any]]:
    """The customer's latest transactions up to a day after the alert, newest first."""
    return list(
        _all(
            connection,
            "SELECT transaction_id, store_id, amount, currency, latitude, longitude, "
            "event_time, fraud_score, is_alert FROM silver.clean_transactions "
            "WHERE customer_id = %s AND event_time <= %s "
            "ORDER BY event_time DESC LIMIT %s",
            (customer_id, until + timedelta(days=1), TIMELINE_LENGTH),
        )
    )


def store_risk(connection: psycopg.Connection, store_id: str, at: datetime) -> dict[str, Any]:
    """The store's transactions and alerts over the days before ``at``, and the frauds
    confirmed there (the latest report of each transaction, as the pipeline counts them)."""
    windows = _one(
        connection,
        "SELECT "
        + ", ".join(
            f"count(*) FILTER (WHERE event_time > %(at)s - interval '{days} days') AS tx_{days}d, "
            f"count(*) FILTER (WHERE is_alert AND event_time > %(at)s - interval '{days} days')"
            f" AS alerts_{days}d"
            for days in STORE_WINDOWS_DAYS
        )
        + " FROM silver.clean_transactions WHERE store_id = %(store)s "
        f"AND event_time > %(at)s - interval '{max(STORE_WINDOWS_DAYS)} days' "
        "AND event_time <= %(at)s",
        {"store": store_id, "at": at},  # type: ignore[arg-type]
    )
    confirmed = _one(
        connection,
        "SELECT count(*) AS confirmed_frauds FROM ("
        " SELECT DISTINCT ON (transaction_id) label FROM silver.feedback WHERE store_id = %s"
        " ORDER BY transaction_id, reported_at DESC, label DESC) latest WHERE label = 'fraud'",
        (store_id,),
    )
    blacklisted = _one(
        connection, "SELECT is_blacklisted FROM silver.stores WHERE store_id = %s", (store_id,)
    )
    return {
        **(windows or {}),
        **(confirmed or {}),
        "is_blacklisted": bool(blacklisted and blacklisted["is_blacklisted"]),
    }


def related_alerts(
    connection: psycopg.Connection, alert_id: uuid.UUID, customer_id: str, store_id: str
) -> dict[str, list[dict[str, Any]]]:
    """Other undecided alerts on the same card (customer) and at the same store."""
    query = (
        "SELECT alert_id, transaction_id, customer_id, store_id, fraud_score, event_time, status "
        "FROM console.alert_cases WHERE {column} = %s AND status IN ('open', 'escalated') "
        "AND alert_id <> %s ORDER BY event_time DESC LIMIT %s"
    )
    return {
        "same_card": list(
            _all(
                connection,
                query.format(column="customer_id"),
                (customer_id, alert_id, RELATED_LIMIT),
            )
        ),
        "same_store": list(
            _all(connection, query.format(column="store_id"), (store_id, alert_id, RELATED_LIMIT))
        ),
    }
