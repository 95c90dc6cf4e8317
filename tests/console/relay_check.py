"""Reading back what the relay published, with keys, timestamps and headers."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer

from tests.kafka.live import reader, wait_until
from transforms.kafka_io import ANCHOR_KEY


def read_topic(bootstrap: str, topic: str, expected: int, timeout_s: float = 60) -> list[Any]:
    """Every record on ``topic`` but watermark anchors, once ``expected`` have arrived (or the
    time is up), and a second more: a duplicate would show."""
    consumer = reader(bootstrap, [topic], "console-check")
    found: list[Any] = []
    try:
        wait_until(lambda: _poll_into(consumer, found) >= expected, timeout_s)
        _poll_into(consumer, found)
    finally:
        consumer.close()
    return found


def _poll_into(consumer: Consumer, found: list[Any]) -> int:
    for message in consumer.consume(100, timeout=1.0):
        # A running job's launcher anchors the control topics (transforms/kafka_io.py): those
        # records carry no feedback.
        if not message.error() and message.key() != ANCHOR_KEY:
            found.append(message)
    return len(found)
