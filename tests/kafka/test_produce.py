"""python -m pipelines.produce against the local broker: every line arrives, as it was written,
keyed and stamped by its event when it is one."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from pipelines import produce
from pipelines.synthetic import generate_dataset
from transforms.domain.event_time import business_timezone
from transforms.domain.events import Transaction, parse_event

pytestmark = pytest.mark.kafka
ZONE = business_timezone("America/Sao_Paulo")


@pytest.fixture
def topic(bootstrap_servers: str) -> Iterator[str]:
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    name = f"test-produce-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name].result(10)
    yield name
    admin.delete_topics([name])[name].result(10)


def _consume_all(bootstrap_servers: str, topic: str, expected: int) -> list[tuple]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap_servers, "group.id": f"test-{uuid.uuid4().hex}"}
    )
    consumer.assign([TopicPartition(topic, partition, 0) for partition in range(3)])
    records = []
    try:
        for _ in range(200):
            if len(records) >= expected:
                break
            for message in consumer.consume(500, timeout=1):
                assert message.error() is None
                key = message.key().decode() if message.key() is not None else None
                records.append((message.partition(), key, message.timestamp()[1], message.value()))
    finally:
        consumer.close()
    return records


def test_every_line_is_published_unchanged_with_its_customer_and_event_time(
    bootstrap_servers: str, topic: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = generate_dataset(str(tmp_path), seed=3, customers=8, days=3, malformed_rate=0.1)
    lines = [line for line in Path(dataset.events).read_bytes().splitlines() if line]
    produce.main(
        [
            f"--bootstrap_servers={bootstrap_servers}",
            f"--topic={topic}",
            f"--input={dataset.events}",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert report["published"] == len(lines)
    assert report["failed"] == 0

    records = _consume_all(bootstrap_servers, topic, len(lines))
    assert sorted(value for *_, value in records) == sorted(lines)
    # A malformed line carries the latest event time before it in the stream.
    stream_time, stamp_of_malformed = 0, {}
    for line in lines:
        event = parse_event(line, ZONE)
        if isinstance(event, Transaction):
            stream_time = max(stream_time, event.event_time_ms)
        else:
            stamp_of_malformed[line] = stream_time
    partitions_of: dict[str, set[int]] = {}
    malformed = 0
    for partition, key, timestamp, value in records:
        event = parse_event(value, ZONE)
        if isinstance(event, Transaction):
            assert (key, timestamp) == (event.customer_id, event.event_time_ms)
            partitions_of.setdefault(key, set()).add(partition)
        else:
            assert key is None
            if stamp_of_malformed[value]:  # before any valid line: the broker's clock
                assert timestamp == stamp_of_malformed[value]
            malformed += 1
    assert malformed == report["unkeyed_malformed"] > 0
    # One customer, one partition: Kafka keeps a customer's events in publishing order.
    assert all(len(partitions) == 1 for partitions in partitions_of.values())


def test_limit_and_rate_bound_what_is_sent(
    bootstrap_servers: str, topic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    produce.main(
        [
            f"--bootstrap_servers={bootstrap_servers}",
            f"--topic={topic}",
            "--customers=20",
            "--days=5",
            "--limit=20",
            "--rate=100",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert report["published"] == 20
    assert report["seconds"] >= 0.19  # 20 events at 100/s: the last one leaves after 190 ms
    assert len(_consume_all(bootstrap_servers, topic, 20)) == 20
