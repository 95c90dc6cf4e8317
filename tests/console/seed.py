"""Seeding the warehouse for the console's tests: alerts in bronze, their transactions in
silver, and the cases the intake opens for them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from console.intake import intake

BASE_TIME = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass
class SeededAlert:
    alert_id: str
    transaction_id: str
    customer_id: str
    store_id: str
    fraud_score: float
    event_time: datetime
    rules: list[str] = field(default_factory=list)


def seed_alerts(
    dsn: str,
    count: int,
    *,
    prefix: str = "t",
    store_id: str = "s1",
    customer_of: Any = None,
    score_of: Any = None,
    rules: tuple[str, ...] = ("FR-001",),
    start: datetime = BASE_TIME,
) -> list[SeededAlert]:
    """``count`` alerts (and their transactions in silver) one minute apart, cases opened."""
    seeded = []
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            "SELECT bronze.ensure_daily_partitions('bronze.fraud_alerts', %s, %s)",
            (start.date() - timedelta(days=1), (start + timedelta(minutes=count)).date()),
        )
        with connection.transaction():
            for i in range(count):
                transaction_id = f"{prefix}{i}"
                customer_id = customer_of(i) if customer_of else f"c{i % 5}"
                score = score_of(i) if score_of else round(0.5 + (i % 10) / 20, 3)
                event_time = start + timedelta(minutes=i)
                details = {rule: {"score": 0.9, "amount": 1500 + i} for rule in rules}
                row = connection.execute(
                    "INSERT INTO bronze.fraud_alerts (alert_id, transaction_id, customer_id, "
                    "store_id, amount, currency, event_time, fraud_score, rule_score, ml_score, "
                    "rules_triggered, rule_details, explanation, model_version, rules_version, "
                    "detected_at) VALUES (gen_random_uuid(), %s, %s, %s, %s, 'BRL', %s, %s, "
                    "%s, 0.7, %s, %s, %s, 'm1', 'r1', %s) RETURNING alert_id",
                    (
                        transaction_id,
                        customer_id,
                        store_id,
                        100 + i,
                        event_time,
                        score,
                        score,
                        list(rules),
                        json.dumps(details),
                        f"rules {', '.join(rules)} fired",
                        event_time + timedelta(seconds=2),
                    ),
                ).fetchone()
                assert row is not None
                connection.execute(
                    "INSERT INTO silver.clean_transactions (transaction_id, customer_id, "
                    "store_id, amount, currency, latitude, longitude, event_time, "
                    "schema_version, fraud_score, rule_score, rules_triggered, is_alert, "
                    "rules_version) VALUES (%s, %s, %s, %s, 'BRL', %s, %s, %s, 2, %s, %s, %s, "
                    "true, 'r1')",
                    (
                        transaction_id,
                        customer_id,
                        store_id,
                        100 + i,
                        -23.5 + i / 1000,
                        -46.6 - i / 1000,
                        event_time,
                        score,
                        score,
                        list(rules),
                    ),
                )
                seeded.append(
                    SeededAlert(
                        str(row[0]),
                        transaction_id,
                        customer_id,
                        store_id,
                        score,
                        event_time,
                        list(rules),
                    )
                )
    with psycopg.connect(dsn, autocommit=True) as connection:
        intake(connection)
    return seeded


def seed_transactions(
    dsn: str,
    *,
    hours: int,
    per_hour: int,
    stores: tuple[str, ...],
    cards: tuple[str, ...],
    start: datetime = BASE_TIME,
) -> None:
    """Ordinary (not alerted) transactions spread over ``hours``: the background an alert
    is seen against (timelines, maps, store counts, the DLQ rate's denominator)."""
    rows = []
    for hour in range(hours):
        for n in range(per_hour):
            i = hour * per_hour + n
            rows.append(
                (
                    f"ok-{i}",
                    cards[i % len(cards)],
                    stores[(i // 3) % len(stores)],
                    round(20 + (i * 37) % 180 + 0.5, 2),
                    -23.55 + ((i * 7) % 50) / 1000,
                    -46.63 + ((i * 11) % 50) / 1000,
                    start + timedelta(hours=hour, minutes=(n * 59) // per_hour),
                    round(0.05 + (i % 20) / 100, 2),
                )
            )
    with psycopg.connect(dsn, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO silver.clean_transactions (transaction_id, customer_id, store_id, "
            "amount, currency, payment_method, latitude, longitude, event_time, schema_version, "
            "fraud_score, rule_score, is_alert, rules_version) "
            "VALUES (%s, %s, %s, %s, 'BRL', 'credit_card', %s, %s, %s, 2, %s, %s, false, 'r1')",
            [(*row[:7], row[7], row[7]) for row in rows],
        )


def seed_store_minutes(
    dsn: str, stores: tuple[str, ...], *, minutes: int = 60, end: datetime | None = None
) -> None:
    """``minutes`` minutes of sales of ``stores`` up to ``end`` (now) in
    silver.store_minute_metrics, as the live job upserts them; the retail dashboard's data."""
    last = (end or datetime.now(UTC)).replace(second=0, microsecond=0)
    rows = []
    for back in range(minutes):
        start = last - timedelta(minutes=back)
        for number, store in enumerate(stores):
            transactions = 4 + (number * 5 + back * 3) % 9
            amount = round(transactions * (35 + 12 * number), 2)
            methods = {"card": f"{amount * 0.6:.2f}", "pix": f"{amount * 0.4:.2f}"}
            window = (f"{store}|{start.isoformat()}", store, start, start + timedelta(minutes=1))
            counts = (transactions, amount, transactions // 5, int(back % 7 == 0))
            rows.append((*window, *counts, json.dumps(methods)))
    with psycopg.connect(dsn, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO silver.store_minute_metrics (window_key, store_id, window_start, "
            "window_end, transactions, amount, alerts, dead_letters, amount_by_payment_method, "
            "pane_index, pane_timing) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 0, 'ON_TIME') "
            "ON CONFLICT (window_key) DO NOTHING",
            rows,
        )
