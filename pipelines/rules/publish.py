"""Publishing a registered version to the rules topic, synchronously: it is registered only
once the broker has it (``acks=all``, idempotent)."""

from __future__ import annotations

from typing import Any

import psycopg

from pipelines.cli import RUN_ERROR, CommandError
from pipelines.rules import store
from transforms.domain.rules_registry import encode_rules_change

PUBLISH_TIMEOUT_S = 30


def publish(
    bootstrap_servers: str, topic: str, key: str, record: bytes, registered_at_ms: int
) -> None:
    """A registered version's record on ``topic``, keyed by its registration (the compacted
    topic keeps every registration: ``"<id>"`` for rules, ``"model-<id>"`` for models), stamped
    at its registration time; :class:`CommandError` if not delivered."""
    from confluent_kafka import KafkaException, Producer

    failures: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(error.str())

    try:
        producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "enable.idempotence": True,
                "acks": "all",
                "log_level": 0,  # librdkafka would print every failed attempt
                "message.timeout.ms": PUBLISH_TIMEOUT_S * 1000,
            }
        )
        producer.produce(
            topic,
            key=key.encode(),
            value=record,
            timestamp=registered_at_ms,
            on_delivery=delivered,
        )
        undelivered = producer.flush(PUBLISH_TIMEOUT_S + 5)
    except (KafkaException, BufferError) as error:
        raise CommandError(f"publishing to {topic}: {error}", RUN_ERROR) from None
    if undelivered or failures:
        reason = ", ".join(failures) or f"not delivered in {PUBLISH_TIMEOUT_S} s"
        raise CommandError(f"publishing to {topic}: {reason}", RUN_ERROR)


def publish_registration(
    connection: psycopg.Connection[Any],
    row: store.Registration,
    bootstrap_servers: str,
    topic: str,
) -> None:
    """A committed rules registration on ``topic``, then marked published; a
    :class:`CommandError` (and the row left unpublished) if the broker does not take it."""
    change = row.change()
    record = encode_rules_change(change)
    publish(bootstrap_servers, topic, str(row.registration_id), record, change.registered_at_ms)
    store.mark_published(connection, row.registration_id)
