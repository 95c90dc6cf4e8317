"""The verdict loop end to end, on the real engines: the live job on Flink raises an alert
into the warehouse, the console opens its case, an analyst confirms fraud in the browser, the
relay publishes the verdict to the job's feedback topic once, and the job's next transaction
on that card carries FR-008 (a confirmed fraud on the card). The retraining side of the loop
(model_retrain counts the verdict as a label) is tests/airflow/test_model_retrain.py."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer

from console.intake import intake
from console.relay import producer_config, run_relay
from console.settings import Settings
from console.users import add_user
from pipelines import produce
from tests.console.browser import chromium, element, log_in, served, submit
from tests.console.conftest import PASSWORD
from tests.console.relay_check import read_topic
from tests.flink.conftest import flink_master  # noqa: F401  (the live job runs on Flink)
from tests.kafka.live import Topics, live_job, wait_until
from tests.services import service_script
from transforms.domain.feedback import Feedback, parse_feedback

pytestmark = [pytest.mark.browser, pytest.mark.kafka, pytest.mark.flink, pytest.mark.slow]


def card_event(transaction_id: str, card: str, at: datetime, amount: float) -> dict[str, Any]:
    return {
        "schema_version": 2,
        "transaction_id": transaction_id,
        "customer_id": card,
        "store_id": "S-LOOP-001",
        "product_id": None,
        "amount": amount,
        "currency": "BRL",
        "payment_method": "credit_card",
        "latitude": -23.55,
        "longitude": -46.63,
        "timestamp": at.isoformat(),
    }


def publish_events(bootstrap: str, topic: str, events: list[dict[str, Any]], folder: Path) -> None:
    path = folder / f"events-{uuid.uuid4().hex[:6]}.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    produce.main(
        [f"--bootstrap_servers={bootstrap}", f"--topic={topic}", f"--input={path}", "--kind=events"]
    )


def one(dsn: str, query: str, params: tuple[Any, ...]) -> Any:
    with psycopg.connect(dsn) as connection:
        return connection.execute(query, params).fetchone()


def test_a_verdict_given_in_the_browser_reaches_the_live_jobs_next_transaction(
    flink_master: str,  # noqa: F811
    bootstrap_servers: str,
    topics: Topics,
    warehouse_dsn: str,
    console_dsn: str,
    tmp_path: Path,
) -> None:
    service_script("console", "browser", timeout=900)
    card = f"loop-card-{uuid.uuid4().hex[:6]}"
    start = datetime.now(UTC) - timedelta(minutes=9)
    # Twelve payments in six minutes: FR-002 (velocity) scores the tenth on at its full weight,
    # which makes them alerts.
    burst = [
        card_event(f"{card}-{i}", card, start + timedelta(seconds=30 * i), 50.0 + i)
        for i in range(12)
    ]
    # Other cards' payments on every partition of the topic: a partition that never held a
    # record holds the job's watermark back (docs/kafka.md, "Event time, watermarks and idle
    # partitions").
    others = [card_event(f"{card}-other-{i}", f"{card}-other-{i}", start, 20.0) for i in range(30)]
    publish_events(bootstrap_servers, topics.input, others + burst, tmp_path)
    job_name = f"streamflow-loop-{uuid.uuid4().hex[:8]}"
    args = [f"--kafka_bootstrap_servers={bootstrap_servers}", *topics.options()]
    args += [f"--kafka_consumer_group={job_name}", f"--output_dir={tmp_path / 'live'}"]
    args += ["--no_model", f"--postgres_dsn={warehouse_dsn}"]
    alert_query = (
        "SELECT alert_id::text FROM bronze.fraud_alerts WHERE customer_id = %s "
        "ORDER BY event_time LIMIT 1"
    )
    with live_job(flink_master, job_name, args, tmp_path / "logs"):
        assert wait_until(lambda: one(warehouse_dsn, alert_query, (card,)) is not None, 240)
        [alert_id] = one(warehouse_dsn, alert_query, (card,))
        with psycopg.connect(console_dsn, autocommit=True) as connection:
            intake(connection)
            add_user(connection, "lena", "analyst", PASSWORD)
        stop = threading.Event()
        config = producer_config(bootstrap_servers)
        relay = threading.Thread(
            target=run_relay, args=(console_dsn, lambda: Producer(config), stop, 0.2)
        )
        relay.start()
        try:
            settings = Settings(dsn=console_dsn, feedback_topic=topics.feedback)
            with served(settings) as base, chromium() as driver:
                log_in(driver, base, "lena", PASSWORD)
                driver.get(f"{base}/alerts/{alert_id}")
                submit(driver, element(driver, "confirm-fraud"))
                assert element(driver, "status").text == "confirmed"
            unsent = "SELECT count(*) FROM console.outbox WHERE sent_at IS NULL"
            assert wait_until(lambda: one(console_dsn, unsent, ())[0] == 0, 60)
        finally:
            stop.set()
            relay.join(timeout=60)
        [record] = read_topic(bootstrap_servers, topics.feedback, 1)  # once
        verdict = parse_feedback(record.value())
        assert isinstance(verdict, Feedback)
        assert (verdict.customer_id, verdict.label) == (card, "fraud")
        # The card's next payment, after the verdict: the job has learnt the card is compromised.
        later = card_event(f"{card}-next", card, datetime.now(UTC) + timedelta(seconds=2), 61.0)
        publish_events(bootstrap_servers, topics.input, [later], tmp_path)
        scored = "SELECT rules_triggered FROM silver.clean_transactions WHERE transaction_id = %s"
        assert wait_until(lambda: one(warehouse_dsn, scored, (later["transaction_id"],)), 240)
        [rules] = one(warehouse_dsn, scored, (later["transaction_id"],))
    assert "FR-008" in rules
    earlier = one(warehouse_dsn, scored, (f"{card}-11",))
    assert "FR-008" not in earlier[0]  # before the verdict, the card was not known
