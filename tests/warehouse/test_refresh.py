"""Silver dimensions and gold star schema from a small hand-written data set."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from pipelines.warehouse.cli import main
from pipelines.warehouse.locks import REFRESH_LOCK
from pipelines.warehouse.migrate import migrate
from pipelines.warehouse.refresh import OBJECTS, STEPS, object_steps, refresh

T = datetime(2026, 10, 3, 10, 15, tzinfo=UTC)  # a Saturday
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _later() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1)


def _transaction(
    connection: Any,
    tid: str,
    at: datetime,
    amount: str,
    *,
    store: str = "S1",
    alert: bool = False,
    rules: str = "{}",
) -> None:
    connection.execute(
        "INSERT INTO silver.clean_transactions (transaction_id, customer_id, store_id, "
        "product_id, amount, currency, latitude, longitude, event_time, schema_version, "
        "fraud_score, rule_score, rules_triggered, rule_details, is_alert, rules_version) "
        "VALUES (%s, 'C1', %s, 'P1', %s, 'BRL', -23.5, -46.6, %s, 2, %s, %s, %s, '{}', %s, 'r')",
        (tid, store, amount, at, 0.9 if alert else 0.1, 0.9 if alert else 0.1, rules, alert),
    )


def _alert(connection: Any, tid: str, at: datetime, amount: str, rules: list[str]) -> None:
    connection.execute(
        "SELECT bronze.ensure_daily_partitions('bronze.fraud_alerts', %s, %s)",
        (at.date(), at.date()),
    )
    connection.execute(
        "INSERT INTO bronze.fraud_alerts (alert_id, transaction_id, customer_id, store_id, amount, "
        "currency, event_time, fraud_score, rule_score, rules_triggered, rule_details, "
        "explanation, rules_version, detected_at) VALUES (gen_random_uuid(), %s, 'C1', 'S1', "
        "%s, 'BRL', %s, 0.9, 0.9, %s, '{}', 'x', 'r', now())",
        (tid, amount, at, rules),
    )


@pytest.fixture
def warehouse(empty_dsn: str) -> str:
    migrate(empty_dsn)
    with psycopg.connect(empty_dsn) as connection:
        _transaction(connection, "t1", T, "10.00")
        _transaction(
            connection, "t2", T + timedelta(minutes=20), "30.00", alert=True, rules="{FR-001}"
        )
        _transaction(connection, "t3", T + timedelta(days=1), "5.00", store="S2")
        _alert(connection, "t2", T + timedelta(minutes=20), "30.00", ["FR-001"])
    return empty_dsn


def _rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as connection:
        return [tuple(row) for row in connection.execute(sql).fetchall()]


def test_gold_is_built_with_exactly_the_expected_rows(warehouse: str) -> None:
    refresh(warehouse, EPOCH, _later())
    assert _rows(
        warehouse, "SELECT date_key, day_of_week, is_weekend FROM gold.dim_date ORDER BY 1"
    ) == [
        (20261003, 6, True),
        (20261004, 7, True),
    ]
    assert _rows(warehouse, "SELECT customer_id, transactions FROM silver.customers") == [("C1", 3)]
    assert _rows(
        warehouse,
        "SELECT s.store_id, a.hour_start, a.transactions, a.total_amount, a.alerts "
        "FROM gold.agg_hourly_sales a JOIN gold.dim_store s USING (store_key) ORDER BY 1, 2",
    ) == [
        ("S1", datetime(2026, 10, 3, 10, tzinfo=UTC), 2, 40, 1),
        ("S2", datetime(2026, 10, 4, 10, tzinfo=UTC), 1, 5, 0),
    ]
    assert _rows(
        warehouse,
        "SELECT date_key, rule_id, alerts, transactions, alert_amount "
        "FROM gold.agg_daily_fraud ORDER BY 1, 2",
    ) == [(20261003, "ANY", 1, 2, 30), (20261003, "FR-001", 1, 2, 30)]
    assert _rows(warehouse, "SELECT count(*) FROM gold.fact_transactions") == [(3,)]


def test_a_rerun_changes_nothing(warehouse: str) -> None:
    refresh(warehouse, EPOCH, _later())
    assert set(refresh(warehouse, EPOCH, _later()).values()) == {0}


def test_an_hour_with_new_data_is_recomputed_whole(warehouse: str) -> None:
    refresh(warehouse, EPOCH, _later())
    since = datetime.now(UTC)
    with psycopg.connect(warehouse) as connection:
        _transaction(connection, "t4", T + timedelta(minutes=40), "60.00")
    refresh(warehouse, since, _later())  # sees only t4 as changed
    assert _rows(
        warehouse,
        "SELECT transactions, total_amount FROM gold.agg_hourly_sales "
        "WHERE hour_start = '2026-10-03T10:00:00Z'",
    ) == [(3, 100)]


def test_a_late_alert_reaches_gold(warehouse: str) -> None:
    refresh(warehouse, EPOCH, _later())
    since = datetime.now(UTC)
    with psycopg.connect(warehouse) as connection:
        _alert(connection, "t3", T + timedelta(days=1), "5.00", ["FR-003"])
    refresh(warehouse, since, _later())
    assert _rows(
        warehouse,
        "SELECT is_alert, fraud_score, rules_triggered FROM silver.clean_transactions "
        "WHERE transaction_id = 't3'",
    ) == [(True, 0.9, ["FR-003"])]
    assert _rows(
        warehouse, "SELECT is_alert FROM gold.fact_transactions WHERE transaction_id = 't3'"
    ) == [(True,)]
    assert _rows(
        warehouse, "SELECT date_key, rule_id, alerts FROM gold.agg_daily_fraud ORDER BY 1, 2"
    ) == [
        (20261003, "ANY", 1),
        (20261003, "FR-001", 1),
        (20261004, "ANY", 1),
        (20261004, "FR-003", 1),
    ]


def test_cli_runs_every_step(warehouse: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "refresh",
                "--dsn",
                warehouse,
                "--since",
                EPOCH.isoformat(),
                "--until",
                _later().isoformat(),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert all(step in printed for step in STEPS)


def test_no_fact_points_at_a_missing_dimension_row(warehouse: str) -> None:
    # fact_transactions has no foreign keys (V006): the refresh itself must keep them whole
    refresh(warehouse, EPOCH, _later())
    assert _rows(
        warehouse,
        "SELECT count(*) FROM gold.fact_transactions f "
        "LEFT JOIN gold.dim_date d USING (date_key) "
        "LEFT JOIN gold.dim_customer c USING (customer_key) "
        "LEFT JOIN gold.dim_store s USING (store_key) "
        "LEFT JOIN gold.dim_product p USING (product_key) "
        "WHERE d.date_key IS NULL OR c.customer_key IS NULL OR s.store_key IS NULL "
        "OR (f.product_key IS NOT NULL AND p.product_key IS NULL)",
    ) == [(0,)]


def test_a_corrected_resend_updates_every_fact_column(warehouse: str) -> None:
    refresh(warehouse, EPOCH, _later())
    since = datetime.now(UTC)
    with psycopg.connect(warehouse) as connection:
        # what the sink does for a resend of t1 with another customer and payment method
        connection.execute(
            "UPDATE silver.clean_transactions SET customer_id = 'C2', payment_method = 'pix', "
            "currency = 'USD', updated_at = now() WHERE transaction_id = 't1'"
        )
    changed = refresh(warehouse, since, _later())
    assert changed["gold/load_fact_transactions.sql"] == 1
    assert _rows(
        warehouse,
        "SELECT c.customer_id, f.payment_method, f.currency FROM gold.fact_transactions f "
        "JOIN gold.dim_customer c USING (customer_key) WHERE f.transaction_id = 't1'",
    ) == [("C2", "pix", "USD")]


_HOURLY = (
    "SELECT s.store_id, a.hour_start, a.transactions, a.total_amount, a.alerts "
    "FROM gold.agg_hourly_sales a JOIN gold.dim_store s USING (store_key) ORDER BY 1, 2"
)
_DAILY = (
    "SELECT date_key, rule_id, alerts, transactions, alert_amount "
    "FROM gold.agg_daily_fraud ORDER BY 1, 2"
)


def _move(connection: Any, tid: str, store: str, at: datetime) -> None:
    # what the sink does for a corrected resend with another store and event time
    connection.execute(
        "UPDATE silver.clean_transactions SET store_id = %s, event_time = %s, updated_at = now() "
        "WHERE transaction_id = %s",
        (store, at, tid),
    )


def test_a_fact_moved_to_another_store_hour_and_day_leaves_its_old_buckets(
    warehouse: str,
) -> None:
    with psycopg.connect(warehouse) as connection:  # an alert on day 2, so it has daily rows
        day2 = T + timedelta(days=1, hours=1)
        _transaction(connection, "t5", day2, "7.00", store="S2", alert=True, rules="{FR-002}")
        _alert(connection, "t5", day2, "7.00", ["FR-002"])
    refresh(warehouse, EPOCH, _later())
    assert _rows(warehouse, _HOURLY) == [
        ("S1", datetime(2026, 10, 3, 10, tzinfo=UTC), 2, 40, 1),
        ("S2", datetime(2026, 10, 4, 10, tzinfo=UTC), 1, 5, 0),
        ("S2", datetime(2026, 10, 4, 11, tzinfo=UTC), 1, 7, 1),
    ]
    since = datetime.now(UTC)
    with psycopg.connect(warehouse) as connection:  # t1: S1, Oct 3 10:15 -> S2, Oct 4 14:00
        _move(connection, "t1", "S2", datetime(2026, 10, 4, 14, tzinfo=UTC))
    changed = refresh(warehouse, since, _later())
    assert changed["gold/capture_moved_buckets.sql"] == 2  # its hour and its day
    assert _rows(
        warehouse,
        "SELECT s.store_id, f.date_key, f.event_time FROM gold.fact_transactions f "
        "JOIN gold.dim_store s USING (store_key) WHERE f.transaction_id = 't1'",
    ) == [("S2", 20261004, datetime(2026, 10, 4, 14, tzinfo=UTC))]
    assert _rows(warehouse, _HOURLY) == [
        ("S1", datetime(2026, 10, 3, 10, tzinfo=UTC), 1, 30, 1),  # t2 alone now
        ("S2", datetime(2026, 10, 4, 10, tzinfo=UTC), 1, 5, 0),
        ("S2", datetime(2026, 10, 4, 11, tzinfo=UTC), 1, 7, 1),
        ("S2", datetime(2026, 10, 4, 14, tzinfo=UTC), 1, 10, 0),
    ]
    assert _rows(warehouse, _DAILY) == [
        (20261003, "ANY", 1, 1, 30),  # t2 alone now
        (20261003, "FR-001", 1, 1, 30),
        (20261004, "ANY", 1, 3, 7),  # t3, t5 and t1
        (20261004, "FR-002", 1, 3, 7),
    ]
    hourly, daily = _rows(warehouse, _HOURLY), _rows(warehouse, _DAILY)
    assert set(refresh(warehouse, since, _later()).values()) == {0}
    assert (_rows(warehouse, _HOURLY), _rows(warehouse, _DAILY)) == (hourly, daily)


def test_an_hour_a_moved_fact_leaves_empty_is_deleted(warehouse: str) -> None:
    refresh(warehouse, EPOCH, _later())
    since = datetime.now(UTC)
    with psycopg.connect(warehouse) as connection:  # t3 was S2's only fact on Oct 4, 10h
        _move(connection, "t3", "S1", datetime(2026, 10, 3, 11, 5, tzinfo=UTC))
    changed = refresh(warehouse, since, _later())
    assert changed["gold/refresh_hourly_sales.sql"] == 2  # one deleted, one inserted
    assert _rows(warehouse, _HOURLY) == [
        ("S1", datetime(2026, 10, 3, 10, tzinfo=UTC), 2, 40, 1),
        ("S1", datetime(2026, 10, 3, 11, tzinfo=UTC), 1, 5, 0),
    ]
    assert _rows(warehouse, _DAILY) == [
        (20261003, "ANY", 1, 3, 30),  # t1, t2 and t3
        (20261003, "FR-001", 1, 3, 30),
    ]
    assert set(refresh(warehouse, since, _later()).values()) == {0}
    assert _rows(warehouse, "SELECT count(*) FROM gold.agg_hourly_sales") == [(2,)]


def test_a_store_is_located_where_its_latest_located_transaction_was(empty_dsn: str) -> None:
    migrate(empty_dsn)
    with psycopg.connect(empty_dsn) as connection:
        _transaction(connection, "early", T, "1.00")  # at -23.5, -46.6
        _transaction(connection, "late", T + timedelta(hours=2), "1.00")
        _transaction(connection, "unlocated", T + timedelta(hours=3), "1.00")
        connection.execute(
            "UPDATE silver.clean_transactions SET latitude = -22.9, longitude = -43.2 "
            "WHERE transaction_id = 'late'"
        )
        connection.execute(
            "UPDATE silver.clean_transactions SET latitude = NULL, longitude = NULL "
            "WHERE transaction_id = 'unlocated'"
        )
    refresh(empty_dsn, EPOCH, _later())
    assert _rows(
        empty_dsn, "SELECT latitude, longitude, first_seen, last_seen FROM silver.stores"
    ) == [(-22.9, -43.2, T, T + timedelta(hours=3))]


def test_refresh_reports_each_steps_duration(warehouse: str) -> None:
    seconds: dict[str, float] = {}
    refresh(warehouse, EPOCH, _later(), seconds=seconds)
    assert list(seconds) == list(STEPS)
    assert all(value >= 0 for value in seconds.values())


def test_refreshes_wait_for_each_other(warehouse: str) -> None:
    def waiting_refreshes(connection: Any) -> int:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event = 'advisory' AND datname = current_database()"
        ).fetchone()
        return int(row[0])

    with psycopg.connect(warehouse, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (REFRESH_LOCK,))
        with ThreadPoolExecutor(max_workers=1) as pool:
            running = pool.submit(refresh, warehouse, EPOCH, _later())
            deadline = time.monotonic() + 30
            while waiting_refreshes(holder) == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert waiting_refreshes(holder) == 1
            assert not running.done()
            holder.execute("SELECT pg_advisory_unlock(%s)", (REFRESH_LOCK,))
            assert running.result(timeout=30)["gold/load_fact_transactions.sql"] == 3


def _refresh_per_object(dsn: str, since: datetime, until: datetime, objects: Any = OBJECTS) -> None:
    """What the silver_to_gold DAG does: one transaction, so one snapshot, per table."""
    for name in objects:
        refresh(dsn, since, until, steps=object_steps([name]))


def test_every_step_refreshes_some_object() -> None:
    assert set(object_steps(list(OBJECTS))) == set(STEPS)


_GOLD = {
    "facts": "SELECT f.transaction_id, f.date_key, c.customer_id, s.store_id, p.product_id, "
    "f.amount, f.is_alert FROM gold.fact_transactions f JOIN gold.dim_customer c "
    "USING (customer_key) JOIN gold.dim_store s USING (store_key) "
    "LEFT JOIN gold.dim_product p USING (product_key) ORDER BY 1",
    "alerts": "SELECT transaction_id, date_key, rules_triggered FROM gold.fact_fraud_alerts",
    "stores": "SELECT store_id, latitude, longitude, is_blacklisted FROM gold.dim_store ORDER BY 1",
    "hourly": _HOURLY,
    "daily": _DAILY,
}


def test_one_transaction_per_object_builds_the_same_gold(warehouse: str) -> None:
    refresh(warehouse, EPOCH, _later())
    expected = {table: _rows(warehouse, sql) for table, sql in _GOLD.items()}
    with psycopg.connect(warehouse) as connection:
        connection.execute(
            "TRUNCATE gold.fact_transactions, gold.fact_fraud_alerts, gold.agg_hourly_sales, "
            "gold.agg_daily_fraud, gold.dim_customer, gold.dim_store, gold.dim_product, "
            "gold.dim_date, silver.customers, silver.stores, silver.products"
        )
    _refresh_per_object(warehouse, EPOCH, _later())
    assert {table: _rows(warehouse, sql) for table, sql in _GOLD.items()} == expected
    assert expected["facts"]
    assert expected["hourly"]
    assert expected["daily"]


def test_a_sink_commit_between_the_dimension_and_fact_tasks_loses_no_fact(
    warehouse: str,
) -> None:
    since = EPOCH
    dimensions = [name for name in OBJECTS if not name.startswith(("gold.fact", "gold.agg"))]
    rest = [name for name in OBJECTS if name not in dimensions]
    _refresh_per_object(warehouse, since, _later(), dimensions)
    # The sink commits a transaction of a new customer at a new store, product and day
    # after the dimension tasks' snapshots, stamped inside their window.
    with psycopg.connect(warehouse) as connection:
        _transaction(connection, "t9", T + timedelta(days=5), "9.00", store="S9")
        connection.execute(
            "UPDATE silver.clean_transactions SET customer_id = 'C9', product_id = 'P9' "
            "WHERE transaction_id = 't9'"
        )
    until = _later()
    _refresh_per_object(warehouse, since, until, rest)
    fact = (
        "SELECT c.customer_id, s.store_id, p.product_id, f.date_key, s.latitude "
        "FROM gold.fact_transactions f JOIN gold.dim_customer c USING (customer_key) "
        "JOIN gold.dim_store s USING (store_key) JOIN gold.dim_product p USING (product_key) "
        "WHERE f.transaction_id = 't9'"
    )
    assert _rows(warehouse, fact) == [("C9", "S9", "P9", 20261008, None)]  # inferred members
    keys = _rows(warehouse, "SELECT customer_key, store_key FROM gold.fact_transactions")
    # The next window overlaps this one: the ordinary dimension steps fill the members in,
    # keeping their keys.
    _refresh_per_object(warehouse, until - timedelta(minutes=15), _later())
    assert _rows(warehouse, fact) == [("C9", "S9", "P9", 20261008, -23.5)]
    assert _rows(warehouse, "SELECT customer_key, store_key FROM gold.fact_transactions") == keys
    assert _rows(
        warehouse, "SELECT first_seen FROM gold.dim_customer WHERE customer_id = 'C9'"
    ) == [(T + timedelta(days=5),)]


def test_moved_buckets_wait_for_the_aggregate_tasks(warehouse: str) -> None:
    _refresh_per_object(warehouse, EPOCH, _later())
    since = datetime.now(UTC)
    with psycopg.connect(warehouse) as connection:  # t3 was S2's only fact on Oct 4, 10h
        _move(connection, "t3", "S1", datetime(2026, 10, 3, 11, 5, tzinfo=UTC))
    facts = [name for name in OBJECTS if name.startswith("gold.fact")]
    _refresh_per_object(warehouse, since, _later(), facts)
    pending = "SELECT (SELECT count(*) FROM gold.pending_moved_hours), " + (
        "(SELECT count(*) FROM gold.pending_moved_days)"
    )
    assert _rows(warehouse, pending) == [(1, 1)]
    _refresh_per_object(warehouse, since, _later(), ["gold.agg_hourly_sales"])
    assert _rows(warehouse, pending) == [(0, 1)]  # the daily task has not run yet
    assert _rows(warehouse, _HOURLY) == [
        ("S1", datetime(2026, 10, 3, 10, tzinfo=UTC), 2, 40, 1),
        ("S1", datetime(2026, 10, 3, 11, tzinfo=UTC), 1, 5, 0),
    ]
    _refresh_per_object(warehouse, since, _later(), ["gold.agg_daily_fraud"])
    assert _rows(warehouse, pending) == [(0, 0)]
    assert _rows(warehouse, _DAILY) == [
        (20261003, "ANY", 1, 3, 30),  # t1, t2 and t3
        (20261003, "FR-001", 1, 3, 30),
    ]
