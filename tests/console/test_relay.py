"""The relay against the real broker: every verdict reaches ``fraud.feedback`` as the
pipeline's feedback, keyed and stamped as the pipeline expects; nothing is lost when the relay
dies between sending and marking, and a repeat is the same record."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer

from console import actions
from console.relay import RelayError, producer_config, publish_pending, run_relay
from console.users import User, add_user
from pipelines.warehouse.locks import CONSOLE_RELAY_LOCK
from tests.console.conftest import PASSWORD
from tests.console.relay_check import read_topic
from tests.console.seed import seed_alerts
from tests.kafka.live import Topics, wait_until
from transforms.domain.feedback import Feedback, parse_feedback

pytestmark = pytest.mark.kafka


def decide(console_dsn: str, user: User, alert_ids: list[str], topic: str) -> list[dict[str, Any]]:
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        return [
            actions.verdict(connection, user, uuid.UUID(a), "fraud", "", topic) for a in alert_ids
        ]


def pending(console_dsn: str) -> int:
    with psycopg.connect(console_dsn) as connection:
        row = connection.execute(
            "SELECT count(*) FROM console.outbox WHERE sent_at IS NULL"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_verdicts_reach_the_topic_as_the_pipelines_feedback(
    warehouse_dsn: str,
    console_dsn: str,
    bootstrap_servers: str,
    topics: Topics,
    tmp_path: Path,
) -> None:
    seeded = seed_alerts(warehouse_dsn, 6, prefix="relay")
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        user = add_user(connection, "rita", "analyst", PASSWORD)
    events = decide(console_dsn, user, [a.alert_id for a in seeded], topics.feedback)
    stop = threading.Event()
    config = producer_config(bootstrap_servers)
    heartbeat = tmp_path / "heartbeat"
    relay = threading.Thread(
        target=run_relay,
        args=(console_dsn, lambda: Producer(config), stop, 0.1),
        kwargs={"heartbeat": heartbeat},
    )
    relay.start()
    try:
        assert wait_until(lambda: pending(console_dsn) == 0, 60)
        assert heartbeat.exists()  # what the Kubernetes liveness probe looks at
        # Another replica waits for the lock instead of publishing beside it.
        with psycopg.connect(console_dsn, autocommit=True) as other:
            taken = other.execute("SELECT pg_try_advisory_lock(%s)", (CONSOLE_RELAY_LOCK,))
            assert taken.fetchone() == (False,)
    finally:
        stop.set()
        relay.join(timeout=60)
    messages = read_topic(bootstrap_servers, topics.feedback, len(seeded))
    assert len(messages) == len(seeded)
    by_transaction = {a.transaction_id: a for a in seeded}
    ids = {str(e["feedback_id"]) for e in events}
    for message in messages:
        feedback = parse_feedback(message.value())
        assert isinstance(feedback, Feedback)
        alert = by_transaction[feedback.transaction_id]
        assert message.key() == alert.customer_id.encode()
        assert message.timestamp()[1] == feedback.reported_at_ms
        assert (feedback.customer_id, feedback.store_id, feedback.label) == (
            alert.customer_id,
            alert.store_id,
            "fraud",
        )
        assert dict(message.headers())["feedback_id"].decode() in ids


def test_a_relay_that_dies_before_marking_sends_the_same_records_again(
    warehouse_dsn: str,
    console_dsn: str,
    bootstrap_servers: str,
    topics: Topics,
) -> None:
    seeded = seed_alerts(warehouse_dsn, 3, prefix="crash")
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        user = add_user(connection, "carlos", "analyst", PASSWORD)
    decide(console_dsn, user, [a.alert_id for a in seeded], topics.feedback)
    producer = Producer(producer_config(bootstrap_servers))
    with (
        psycopg.connect(console_dsn, autocommit=True) as connection,
        # Sent, then the process dies before its transaction commits the marks.
        connection.transaction(force_rollback=True),
    ):
        assert publish_pending(connection, producer) == 3
    assert pending(console_dsn) == 3
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        assert publish_pending(connection, producer) == 3
        assert publish_pending(connection, producer) == 0
    messages = read_topic(bootstrap_servers, topics.feedback, 6)
    assert len(messages) == 6
    values = sorted(message.value() for message in messages)
    assert values[0::2] == values[1::2]  # each record twice, byte for byte the same
    assert len(set(values)) == 3


def test_an_unreachable_broker_leaves_the_outbox_as_it_was(
    warehouse_dsn: str, console_dsn: str
) -> None:
    seeded = seed_alerts(warehouse_dsn, 2, prefix="down")
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        user = add_user(connection, "dina", "analyst", PASSWORD)
    decide(console_dsn, user, [a.alert_id for a in seeded], "fraud.feedback")
    before = pending(console_dsn)
    producer = Producer({**producer_config("127.0.0.1:9"), "message.timeout.ms": 2000})
    with (
        psycopg.connect(console_dsn, autocommit=True) as connection,
        pytest.raises(RelayError, match="did not take"),
    ):
        publish_pending(connection, producer, flush_timeout_s=10)
    assert pending(console_dsn) == before > 0
