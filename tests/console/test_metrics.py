"""``GET /metrics`` through HTTP on a real PostgreSQL: a bearer token of its own (404 without
one configured, 401 for a wrong one), Prometheus' text format (``promtool check metrics``), and
values that are the warehouse's."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from console import actions
from console.settings import METRICS_TOKEN_VARIABLE, Settings, settings_from_environment
from console.users import User
from console.web import create_app
from pipelines.cli import CommandError
from tests.console.conftest import Account
from tests.console.seed import seed_alerts
from tests.services import service_script

TOKEN = "scrape-" + "x" * 40
SAMPLE = re.compile(r"^([a-z_:]+)(?:\{(.*)\})? (\S+)$")


@pytest.fixture(scope="module")
def scraped(console_dsn: str, accounts: dict[str, Account]) -> Iterator[TestClient]:
    app = create_app(Settings(dsn=console_dsn, metrics_token=TOKEN))
    with TestClient(app) as test_client:
        yield test_client


def samples(client: TestClient) -> dict[str, float]:
    """``name{labels}`` -> value of every sample on /metrics."""
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    found = {}
    for line in answer.text.splitlines():
        if line and not line.startswith("#"):
            matched = SAMPLE.match(line)
            assert matched, line
            name, labels, value = matched.groups()
            found[f"{name}{{{labels}}}" if labels else name] = float(value)
    return found


def test_without_a_token_configured_there_is_no_metrics_route(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Basic {TOKEN}",
        "Bearer",
        "Bearer é".encode(),
    ],
)
def test_a_wrong_token_is_refused(scraped: TestClient, authorization: str | bytes | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = scraped.get("/metrics", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert "streamflow_" not in answer.text


def test_the_token_is_checked_before_a_connection_is_taken(
    console_dsn: str, accounts: dict[str, Account]
) -> None:
    """An exhausted pool (a flood, or a warehouse that is down) does not turn a 401 or a 404
    into a wait and a 500: neither takes a connection."""
    pool = ConnectionPool(
        console_dsn, min_size=1, max_size=1, timeout=2, kwargs={"autocommit": True}
    )
    with pool:
        for token, expected in ((TOKEN, 401), (None, 404)):
            app = create_app(Settings(dsn=console_dsn, metrics_token=token), pool=pool)
            with TestClient(app) as test_client:
                held = pool.getconn()
                try:
                    started = time.monotonic()
                    for authorization in (None, "Bearer wrong", f"Bearer {TOKEN}x"):
                        headers = {} if authorization is None else {"Authorization": authorization}
                        answer = test_client.get("/metrics", headers=headers)
                        assert answer.status_code == expected, answer.text
                    assert time.monotonic() - started < 1.5  # no wait for the pool
                finally:
                    pool.putconn(held)
                if token is not None:
                    scraped = test_client.get(
                        "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
                    )
                    assert scraped.status_code == 200
                    assert "streamflow_alerts_open" in scraped.text


def test_an_api_token_is_not_a_metrics_token(
    scraped: TestClient, accounts: dict[str, Account]
) -> None:
    assert scraped.get("/metrics", headers=accounts["sofia"].headers).status_code == 401


@pytest.mark.prometheus
def test_the_metrics_are_prometheus_text(scraped: TestClient, warehouse_dsn: str) -> None:
    seed_alerts(warehouse_dsn, 2, prefix="fmt")
    answer = scraped.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert answer.headers["Cache-Control"] == "no-store"
    promtool = service_script("prometheus", "promtool", timeout=900)
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=answer.text, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked
    assert not (checked.stdout + checked.stderr).strip(), checked


def test_the_values_are_the_warehouses(
    scraped: TestClient, warehouse_dsn: str, console_dsn: str
) -> None:
    seeded = seed_alerts(warehouse_dsn, 6, prefix="m", start=datetime(2026, 11, 21, tzinfo=UTC))
    with psycopg.connect(warehouse_dsn, autocommit=True) as connection:
        before = connection.execute(
            "SELECT status, alerts FROM console.status_counts ORDER BY status"
        ).fetchall()
    counts = dict(before)
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        found_user = connection.execute(
            "SELECT user_id FROM console.users WHERE name = 'sofia'"
        ).fetchone()
        assert found_user is not None
        sofia = User(int(found_user[0]), "sofia", "supervisor")
        for alert, label in zip(seeded[:3], ("fraud", "fraud", "genuine"), strict=True):
            actions.verdict(connection, sofia, uuid.UUID(alert.alert_id), label, "", "t")
        actions.escalate(connection, sofia, uuid.UUID(seeded[3].alert_id), "")
    found = samples(scraped)
    assert found["streamflow_alerts_open"] == counts["open"] - 4
    assert found["streamflow_alerts_escalated"] == counts["escalated"] + 1
    assert found['streamflow_alerts_decided{verdict="fraud"}'] == counts["confirmed"] + 2
    assert found['streamflow_alerts_decided{verdict="legitimate"}'] == (counts["dismissed"] + 1)
    assert found["streamflow_feedback_unsent"] >= 3
    with psycopg.connect(warehouse_dsn, autocommit=True) as connection:
        newest = connection.execute(
            "SELECT extract(epoch FROM (SELECT max(updated_at) FROM silver.clean_transactions)), "
            "extract(epoch FROM (SELECT max(ingested_at) FROM bronze.fraud_alerts)), "
            "extract(epoch FROM (SELECT min(created_at) FROM console.outbox "
            "WHERE sent_at IS NULL))"
        ).fetchone()
        assert newest is not None
        connection.execute("UPDATE console.outbox SET sent_at = now() WHERE sent_at IS NULL")
    table = 'streamflow_warehouse_newest_seconds{table="%s"}'
    assert found[table % "silver.clean_transactions"] == pytest.approx(float(newest[0]))
    assert found[table % "bronze.fraud_alerts"] == pytest.approx(float(newest[1]))
    assert found["streamflow_feedback_oldest_unsent_seconds"] == pytest.approx(float(newest[2]))
    after = samples(scraped)
    assert after["streamflow_feedback_unsent"] == 0
    assert "streamflow_feedback_oldest_unsent_seconds" not in after  # none waits


def test_an_empty_table_has_no_newest_row(scraped: TestClient, warehouse_dsn: str) -> None:
    key = 'streamflow_warehouse_newest_seconds{table="silver.store_minute_metrics"}'
    with psycopg.connect(warehouse_dsn, autocommit=True) as connection:
        exists = connection.execute("SELECT to_regclass('silver.store_minute_metrics')").fetchone()
        if not exists or exists[0] is None:
            pytest.skip("silver.store_minute_metrics does not exist yet (migration V018)")
        connection.execute("DELETE FROM silver.store_minute_metrics")
        assert key not in samples(scraped)
        start = datetime.now(UTC).replace(second=0, microsecond=0)
        row = connection.execute(
            "INSERT INTO silver.store_minute_metrics (window_key, store_id, window_start, "
            "window_end, transactions, amount, alerts, dead_letters, amount_by_payment_method, "
            "pane_index, pane_timing) VALUES (%s, 's1', %s, %s, 1, 10, 0, 0, '{}', 0, 'EARLY') "
            "RETURNING extract(epoch FROM updated_at)",
            (f"s1|{start.isoformat()}", start, start + timedelta(minutes=1)),
        ).fetchone()
    assert row is not None
    assert samples(scraped)[key] == pytest.approx(float(row[0]))


def test_the_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMFLOW_CONSOLE_PG_DSN", "postgresql://nobody@127.0.0.1/x")
    monkeypatch.delenv(METRICS_TOKEN_VARIABLE, raising=False)
    assert settings_from_environment().metrics_token is None
    monkeypatch.setenv(METRICS_TOKEN_VARIABLE, TOKEN)
    assert settings_from_environment().metrics_token == TOKEN
    monkeypatch.setenv(METRICS_TOKEN_VARIABLE, "short")
    with pytest.raises(CommandError, match=METRICS_TOKEN_VARIABLE):
        settings_from_environment()
