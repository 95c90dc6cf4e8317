"""Time of the silver -> gold refresh for one day of transactions.

    python benchmarks/warehouse_refresh.py [--rows 1000000] [--dsn DSN]

Fills a fresh database (created and dropped here, on the project's cluster from
``scripts/postgres.sh`` unless ``--dsn`` names a server whose role may create databases) with
one day of scored transactions in silver (20k customers, 500 stores, 2% alerts in bronze),
then times the warehouse refresh (``pipelines.warehouse.refresh``) over it, and a second,
no-change run, in total and per step.
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta

import psycopg

from pipelines.warehouse.refresh import refresh
from pipelines.warehouse.scratch import scratch_database

DAY = datetime(2026, 10, 1, tzinfo=UTC)

_FILL_SILVER = """
INSERT INTO silver.clean_transactions (transaction_id, customer_id, store_id, product_id,
    amount, currency, latitude, longitude, event_time, schema_version, fraud_score, rule_score,
    rules_triggered, rule_details, is_alert, rules_version)
SELECT 'b' || i, 'C' || (i %% 20000), 'S' || (i %% 500), 'P' || (i %% 5000),
       round((10 + (i %% 997))::numeric, 2), 'BRL', -23.5, -46.6,
       %(day)s::timestamptz + ((i - 1) * 86400.0 / %(rows)s) * interval '1 second', 2,
       CASE WHEN i %% 50 = 0 THEN 0.9 ELSE 0.1 END, CASE WHEN i %% 50 = 0 THEN 0.9 ELSE 0.1 END,
       CASE WHEN i %% 50 = 0 THEN '{FR-001}'::text[] ELSE '{}'::text[] END, '{}',
       i %% 50 = 0, 'bench'
FROM generate_series(1, %(rows)s) AS i
"""

_FILL_ALERTS = """
INSERT INTO bronze.fraud_alerts (alert_id, transaction_id, customer_id, store_id, amount,
    currency, event_time, fraud_score, rule_score, rules_triggered, rule_details, explanation,
    rules_version, detected_at)
SELECT gen_random_uuid(), transaction_id, customer_id, store_id, amount, currency, event_time,
       fraud_score, rule_score, rules_triggered, rule_details, 'bench', rules_version, now()
FROM silver.clean_transactions WHERE is_alert
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dsn")
    args = parser.parse_args()
    with scratch_database(args.dsn) as dsn:
        started = time.perf_counter()
        with psycopg.connect(dsn) as connection:
            connection.execute(_FILL_SILVER, {"day": DAY, "rows": args.rows})
            connection.execute(
                "SELECT bronze.ensure_daily_partitions('bronze.fraud_alerts', %s, %s)",
                (DAY.date(), DAY.date()),
            )
            connection.execute(_FILL_ALERTS)
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute("VACUUM (ANALYZE)")
        fill_seconds = time.perf_counter() - started
        window = (datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1))
        first_steps: dict[str, float] = {}
        started = time.perf_counter()
        refresh(dsn, *window, seconds=first_steps)
        first = time.perf_counter() - started
        second_steps: dict[str, float] = {}
        started = time.perf_counter()
        refresh(dsn, *window, seconds=second_steps)
        second = time.perf_counter() - started
    print(
        json.dumps(
            {
                "rows": args.rows,
                "fill_seconds": round(fill_seconds, 1),
                "refresh_seconds": round(first, 1),
                "rerun_no_change_seconds": round(second, 1),
                "refresh_step_seconds": {k: round(v, 2) for k, v in first_steps.items()},
                "rerun_step_seconds": {k: round(v, 2) for k, v in second_steps.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
