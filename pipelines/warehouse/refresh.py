"""Warehouse refresh: silver dimensions and the gold star schema from what changed.

    python -m pipelines.warehouse refresh --dsn DSN [--since ISO] [--until ISO] [--object NAME ...]

Runs ``sql/transforms/silver/*`` then ``sql/transforms/gold/*`` in dependency order, in one
repeatable-read transaction (one snapshot for every step), for the rows that changed in
[since, until) (default: the last 24 hours). ``--object`` refreshes only the tables named (see
``OBJECTS``; repeatable, in the order given), still in one transaction: the silver_to_gold DAG
refreshes one object per task that way. Successive windows should overlap a little: a
row stamped just before ``until`` may commit after the snapshot.
Every file is one idempotent statement: a re-run changes nothing, and aggregates recompute
whole hours and days. One refresh runs at a time (an advisory lock). Prints the rows each
step changed.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from datetime import datetime

import psycopg

from pipelines.warehouse.locks import REFRESH_LOCK, advisory_lock
from pipelines.warehouse.options import add_window_arguments, window
from pipelines.warehouse.sql_files import sql_folder

STEPS = (
    "silver/apply_late_alerts.sql",
    "silver/upsert_customers.sql",
    "silver/upsert_stores.sql",
    "silver/upsert_products.sql",
    "gold/upsert_dim_date.sql",
    "gold/upsert_dim_customer.sql",
    "gold/upsert_dim_store.sql",
    "gold/upsert_dim_product.sql",
    "gold/infer_missing_members.sql",
    "gold/capture_moved_buckets.sql",
    "gold/load_fact_transactions.sql",
    "gold/load_fact_fraud_alerts.sql",
    "gold/refresh_hourly_sales.sql",
    "gold/refresh_daily_fraud.sql",
)
# Each table the refresh writes, with the steps that refresh it alone. A fact load carries
# the steps that keep it whole without the dimension steps' snapshot: the day dimension (a
# pure function of the facts) and inferred members for customers, stores and products a sink
# commit added after the dimension steps ran; the transactions' load also records the
# buckets corrected facts leave, for the aggregates.
OBJECTS: dict[str, tuple[str, ...]] = {
    "silver.late_alerts": ("silver/apply_late_alerts.sql",),
    "silver.customers": ("silver/upsert_customers.sql",),
    "silver.stores": ("silver/upsert_stores.sql",),
    "silver.products": ("silver/upsert_products.sql",),
    "gold.dim_date": ("gold/upsert_dim_date.sql",),
    "gold.dim_customer": ("gold/upsert_dim_customer.sql",),
    "gold.dim_store": ("gold/upsert_dim_store.sql",),
    "gold.dim_product": ("gold/upsert_dim_product.sql",),
    "gold.fact_transactions": (
        "gold/upsert_dim_date.sql",
        "gold/infer_missing_members.sql",
        "gold/capture_moved_buckets.sql",
        "gold/load_fact_transactions.sql",
    ),
    "gold.fact_fraud_alerts": (
        "gold/upsert_dim_date.sql",
        "gold/infer_missing_members.sql",
        "gold/load_fact_fraud_alerts.sql",
    ),
    "gold.agg_hourly_sales": ("gold/refresh_hourly_sales.sql",),
    "gold.agg_daily_fraud": ("gold/refresh_daily_fraud.sql",),
}
# Session settings for the refresh transaction only (SET LOCAL). Sorts and hashes over a day
# of transactions (about 100 MB) stay in memory instead of spilling to temporary files. JIT
# is off: a day of rows lifts plans over its cost thresholds, and compiling one statement
# took 0.6 s, more than it saved on statements that run a second or two.
SETTINGS = {"work_mem": "256MB", "jit": "off"}
# Repeatable-read transactions fail, rather than wait, on rows a concurrent writer changed.
_ATTEMPTS = 5


def refresh(
    dsn: str,
    since: datetime,
    until: datetime,
    seconds: dict[str, float] | None = None,
    steps: Sequence[str] = STEPS,
) -> dict[str, int]:
    """Rows changed per step; ``seconds``, if given, receives each step's duration."""
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        raise ValueError(f"unknown refresh steps {unknown}; known: {list(STEPS)}")
    # Refreshes are serialised: the fact load's MERGE would fail on a key another refresh
    # inserted meanwhile. The lock is taken before the refresh's snapshot exists, so a refresh
    # that waited for another one sees everything that one committed.
    with (
        psycopg.connect(dsn, autocommit=True) as connection,
        advisory_lock(connection, REFRESH_LOCK),
    ):
        attempt = 1
        while True:
            try:
                return _refresh_once(connection, since, until, seconds, steps)
            except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected):
                if attempt == _ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)  # a concurrent sink batch touched our rows
                attempt += 1


def _refresh_once(
    connection: psycopg.Connection[tuple[object, ...]],
    since: datetime,
    until: datetime,
    seconds: dict[str, float] | None,
    steps: Sequence[str],
) -> dict[str, int]:
    changed: dict[str, int] = {}
    transforms = sql_folder("transforms")
    params = {"since": since, "until": until}
    # One snapshot for every step: with READ COMMITTED, a transaction the sink committed
    # between the dimension steps and the fact load would reach the MERGE without its
    # dimension rows and be dropped by its joins.
    connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    with connection.transaction():
        for name, value in SETTINGS.items():
            connection.execute("SELECT set_config(%s, %s, true)", (name, value))
        for step in steps:
            sql = (transforms / step).read_text(encoding="utf-8")
            started = time.perf_counter()
            changed[step] = connection.execute(sql, params).rowcount
            if seconds is not None:
                seconds[step] = time.perf_counter() - started
    return changed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_window_arguments(parser)
    parser.add_argument(
        "--object",
        action="append",
        choices=OBJECTS,
        metavar="NAME",
        help=f"Refresh only this table (repeatable, in the order given): one of {list(OBJECTS)}; "
        "default: all, every step once.",
    )


def object_steps(objects: Sequence[str]) -> tuple[str, ...]:
    """The steps refreshing these tables, in order, each once."""
    return tuple(dict.fromkeys(step for name in objects for step in OBJECTS[name]))


def command(dsn: str, args: argparse.Namespace) -> int:
    since, until = window(args)
    steps = object_steps(args.object) if args.object else STEPS
    print(json.dumps(refresh(dsn, since, until, steps=steps), indent=2))
    return 0
