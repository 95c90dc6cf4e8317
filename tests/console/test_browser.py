"""The console in a real browser (headless Chromium through Selenium), served for real, on a
real PostgreSQL, with the relay publishing to the real broker: the analyst's path end to end,
a viewer refused, attacker-controlled text shown as text, two browsers racing for one alert.
The pictures of the queue, an alert and the dashboard land in docs/console/ (the README
shows them)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Producer
from selenium.common.exceptions import NoAlertPresentException, NoSuchElementException
from selenium.webdriver.common.by import By

from console import actions
from console.relay import producer_config, run_relay
from console.settings import Settings
from console.users import User, add_user
from tests.console.browser import (
    chromium,
    log_in,
    mark_page,
    screenshot,
    served,
    submit,
    wait_for_next_page,
)
from tests.console.conftest import PASSWORD
from tests.console.relay_check import read_topic
from tests.console.seed import BASE_TIME, SeededAlert, seed_alerts, seed_transactions
from tests.kafka.live import Topics
from tests.services import service_script
from transforms.domain.feedback import Feedback, parse_feedback

pytestmark = [pytest.mark.browser, pytest.mark.kafka]
PICTURES = Path(__file__).resolve().parents[2] / "docs" / "console"
XSS = '<script>document.title="owned"</script><img src=x onerror="document.title=1">'


@pytest.fixture(scope="module")
def browser_installed() -> None:
    service_script("console", "browser", timeout=900)


@pytest.fixture(scope="module")
def demo(warehouse_dsn: str, console_dsn: str) -> dict[str, SeededAlert]:
    """A day and a half of alerts across stores, cards and rules, some decided, one hostile:
    enough for the pictures to show what an analyst sees."""
    rules = [("FR-001",), ("FR-002", "FR-006"), ("FR-003",), ("FR-004", "FR-001"), ("FR-007",)]
    seeded: list[SeededAlert] = []
    for index, store in enumerate(("store-0042", "store-0107", "store-0311", "store-0500")):
        seeded += seed_alerts(
            warehouse_dsn,
            12,
            prefix=f"tx-{store[-4:]}-",
            store_id=store,
            customer_of=lambda i, k=index: f"card-{(i * 7 + k) % 9:04d}",
            score_of=lambda i, k=index: round(0.55 + ((i * 13 + k * 5) % 40) / 100, 2),
            rules=rules[index],
            start=BASE_TIME + timedelta(hours=index * 9, minutes=index),
        )
    seed_transactions(
        warehouse_dsn,
        hours=36,
        per_hour=30,
        stores=("store-0042", "store-0107", "store-0311", "store-0500", "store-0777"),
        cards=tuple(f"card-{k:04d}" for k in range(9)),
    )
    hostile = seed_alerts(
        warehouse_dsn,
        1,
        prefix="hostile-",
        store_id=XSS,
        customer_of=lambda _: XSS,
        score_of=lambda _: 0.51,
        rules=("FR-005",),
    )[0]
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        senior = add_user(connection, "senior", "supervisor", PASSWORD)
        for alert in seeded[::5]:
            label = "fraud" if alert.fraud_score > 0.75 else "genuine"
            actions.verdict(connection, senior, uuid.UUID(alert.alert_id), label, "", "unused")
        connection.execute("UPDATE console.outbox SET sent_at = now()")  # not this test's topic
    with psycopg.connect(warehouse_dsn, autocommit=True) as connection:
        # Decided minutes to days after detection, as a team works through a backlog.
        connection.execute(
            "UPDATE console.alert_cases SET decided_at = detected_at + interval '4 minutes' * "
            "(1 + abs(hashtext(transaction_id)) % 400) WHERE decided_at IS NOT NULL"
        )
    with psycopg.connect(warehouse_dsn, autocommit=True) as connection:
        connection.execute(
            "SELECT bronze.ensure_daily_partitions('bronze.dlq_events', %s, %s)",
            (BASE_TIME.date(), (BASE_TIME + timedelta(days=2)).date()),
        )
        for hour in range(36):
            for n in range(hour % 4):
                connection.execute(
                    "INSERT INTO bronze.dlq_events (dlq_id, error_type, error_message, stage, "
                    "source, raw_payload, truncated, raw_size_bytes, pipeline_version, "
                    "received_at) VALUES (%s, 'INVALID_JSON', 'x', 'parse', 'k:1', %s, false, "
                    "4, 'v', %s)",
                    (f"d{hour}-{n}", "\\xff\\xfe", BASE_TIME + timedelta(hours=hour)),
                )
    return {"top": max(seeded, key=lambda a: (a.fraud_score, a.event_time)), "hostile": hostile}


@pytest.fixture(scope="module")
def relay(console_dsn: str, bootstrap_servers: str) -> Iterator[None]:
    stop = threading.Event()
    config = producer_config(bootstrap_servers)
    thread = threading.Thread(
        target=run_relay, args=(console_dsn, lambda: Producer(config), stop, 0.2)
    )
    thread.start()
    yield
    stop.set()
    thread.join(timeout=60)


@pytest.fixture
def base_url(console_dsn: str, topics: Topics, browser_installed: None) -> Iterator[str]:
    with served(Settings(dsn=console_dsn, feedback_topic=topics.feedback)) as url:
        yield url


@pytest.fixture(scope="module")
def analysts(console_dsn: str) -> dict[str, User]:
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        return {
            name: add_user(connection, name, role, PASSWORD)
            for name, role in (("ana", "analyst"), ("bruno", "analyst"), ("vera", "viewer"))
        }


def test_an_analyst_confirms_fraud_and_the_pipeline_gets_it_once(
    base_url: str,
    demo: dict[str, SeededAlert],
    analysts: dict[str, User],
    relay: None,
    topics: Topics,
    bootstrap_servers: str,
    warehouse_dsn: str,
) -> None:
    top = demo["top"]
    with chromium() as driver:
        log_in(driver, base_url, "ana", PASSWORD)
        assert driver.current_url.endswith("/queue")
        rows = driver.find_elements(By.CSS_SELECTOR, "#queue tbody tr")
        assert rows[0].get_attribute("data-alert-id") == top.alert_id  # riskiest, newest first
        screenshot(driver, PICTURES / "queue.png")
        submit(driver, driver.find_element(By.ID, "take-next"))
        assert driver.current_url.endswith(f"/alerts/{top.alert_id}")
        assert driver.find_element(By.ID, "assignee").text == "ana"
        assert driver.find_element(By.ID, "transaction-id").text == top.transaction_id
        evidence = driver.find_element(By.ID, "rule-evidence").text
        assert all(rule in evidence for rule in top.rules)
        assert driver.find_elements(By.CSS_SELECTOR, "figure svg circle")  # the map's points
        screenshot(driver, PICTURES / "alert.png")
        driver.find_element(By.ID, "note").send_keys("customer confirmed the card was stolen")
        submit(driver, driver.find_element(By.ID, "confirm-fraud"))
        assert driver.find_element(By.ID, "status").text == "confirmed"
        assert (
            "customer confirmed the card was stolen" in driver.find_element(By.ID, "history").text
        )
        driver.get(f"{base_url}/queue")
        shown = {
            row.get_attribute("data-alert-id")
            for row in driver.find_elements(By.CSS_SELECTOR, "#queue tbody tr")
        }
        assert top.alert_id not in shown  # it left the open queue
        driver.get(f"{base_url}/dashboard")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#dashboard svg")) == 6
        screenshot(driver, PICTURES / "dashboard.png")
    with psycopg.connect(warehouse_dsn) as connection:
        feedback = connection.execute(
            "SELECT feedback_id, label FROM silver.feedback WHERE transaction_id = %s",
            (top.transaction_id,),
        ).fetchall()
    assert [label for _, label in feedback] == ["fraud"]
    messages = read_topic(bootstrap_servers, topics.feedback, 1)
    assert len(messages) == 1  # once
    record = parse_feedback(messages[0].value())
    assert isinstance(record, Feedback)
    assert (record.transaction_id, record.label) == (top.transaction_id, "fraud")
    assert dict(messages[0].headers())["feedback_id"].decode() == str(feedback[0][0])


def test_a_viewer_is_refused(
    base_url: str, demo: dict[str, SeededAlert], analysts: dict[str, User]
) -> None:
    with chromium() as driver:
        log_in(driver, base_url, "vera", PASSWORD)
        assert not driver.find_elements(By.ID, "take-next")
        driver.get(f"{base_url}/alerts/{demo['hostile'].alert_id}")
        assert not driver.find_elements(By.ID, "confirm-fraud")
        # A forged form (the viewer's own session and token) is refused by the server.
        driver.execute_script(
            "const form = document.createElement('form'); form.method = 'post';"
            "form.action = location.pathname;"
            "for (const [k, v] of [['action', 'fraud'], ['csrf_token', arguments[0]]]) {"
            " const i = document.createElement('input'); i.name = k; i.value = v;"
            " form.appendChild(i); }"
            "document.body.appendChild(form); form.submit();",
            driver.find_element(By.CSS_SELECTOR, "input[name=csrf_token]").get_attribute("value"),
        )
        assert "a viewer cannot give a verdict" in driver.find_element(By.ID, "refused").text


def test_attacker_controlled_text_is_shown_as_text(
    base_url: str, demo: dict[str, SeededAlert], analysts: dict[str, User]
) -> None:
    with chromium() as driver:
        log_in(driver, base_url, "ana", PASSWORD)
        for path in (f"/alerts/{demo['hostile'].alert_id}", "/queue?status=all", "/dashboard"):
            driver.get(base_url + path)
            with pytest.raises(NoAlertPresentException):
                driver.switch_to.alert  # noqa: B018
            assert driver.title not in ("owned", "1")
        driver.get(f"{base_url}/alerts/{demo['hostile'].alert_id}")
        assert driver.find_element(By.ID, "store-id").text == XSS
        assert not driver.find_elements(By.CSS_SELECTOR, "main img")


def test_two_browsers_never_take_the_same_alert(
    base_url: str, demo: dict[str, SeededAlert], analysts: dict[str, User]
) -> None:
    with chromium() as first, chromium() as second:
        log_in(first, base_url, "ana", PASSWORD)
        log_in(second, base_url, "bruno", PASSWORD)
        buttons = [first.find_element(By.ID, "take-next"), second.find_element(By.ID, "take-next")]
        for driver in (first, second):
            mark_page(driver)
        for button in buttons:  # both clicks sent before either page answers
            button.click()
        for driver in (first, second):
            wait_for_next_page(driver)
        taken = {first.current_url, second.current_url}
        assert len(taken) == 2
        assert first.find_element(By.ID, "assignee").text == "ana"
        assert second.find_element(By.ID, "assignee").text == "bruno"
        second.get(first.current_url)  # bruno opens ana's alert: nothing to take there
        with pytest.raises(NoSuchElementException):
            second.find_element(By.ID, "take")
