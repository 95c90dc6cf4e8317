"""python -m pipelines.produce against the local broker: every line arrives, as it was written,
keyed and stamped by its event when it is one."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from pipelines import produce
from pipelines.synthetic import generate_dataset
from transforms.domain.event_time import business_timezone
from transforms.domain.events import Transaction, parse_event

pytestmark = pytest.mark.kafka
ZONE = business_timezone("America/Sao_Paulo")
ROOT = Path(__file__).resolve().parents[2]


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


def _run_produce(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.produce", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_a_refused_record_is_named_and_counted_and_every_other_one_is_delivered(
    bootstrap_servers: str, topic: str, tmp_path: Path
) -> None:
    dataset = generate_dataset(str(tmp_path), seed=5, customers=20, days=5)
    lines = [line for line in Path(dataset.events).read_bytes().splitlines() if line]
    # Over the broker's limit (message.max.bytes, about 1 MB): refused whole, never split.
    oversized = b'{"pad": "' + b"x" * 1_200_000 + b'"}'
    middle = len(lines) // 2
    path = tmp_path / "with_oversized.jsonl"
    path.write_bytes(b"\n".join([*lines[:middle], oversized, *lines[middle:]]) + b"\n")

    done = _run_produce(
        f"--bootstrap_servers={bootstrap_servers}", f"--topic={topic}", f"--input={path}"
    )

    assert done.returncode == 3, done.stderr  # NOT_ALL_DELIVERED, documented
    assert "Traceback" not in done.stderr
    assert f"{path}:{middle + 1}: MSG_SIZE_TOO_LARGE" in done.stderr
    report = json.loads(done.stdout)
    assert (report["published"], report["refused"], report["failed"]) == (len(lines), 1, 1)
    delivered = _consume_all(bootstrap_servers, topic, len(lines))
    assert sorted(value for *_, value in delivered) == sorted(lines)


def test_records_still_queued_when_the_flush_gives_up_count_as_undelivered(
    bootstrap_servers: str, topic: str
) -> None:
    # A long linger keeps every record in the client's queue past a flush that waits 0 s.
    producer = Producer({"bootstrap.servers": bootstrap_servers, "linger.ms": 30_000})
    lines = [produce.Line(f"mem:{n}", b'{"n": %d}' % n) for n in range(1, 51)]
    tally = produce.publish(producer, topic, lines, ZONE, flush_timeout_s=0)
    producer.purge()
    assert (tally.published, tally.undelivered, tally.failed) == (0, 50, 50)


@pytest.mark.parametrize(
    ("kind", "expected_topic"),
    [
        ("events", "transactions.raw"),
        ("feedback", "fraud.feedback"),
        ("blacklist_changes", "reference.blacklist"),
    ],
)
def test_the_default_topic_follows_the_kind(
    bootstrap_servers: str, tmp_path: Path, kind: str, expected_topic: str
) -> None:
    # --limit=0 publishes nothing: the project's own topics stay as they are.
    path = tmp_path / "nothing.jsonl"
    path.write_bytes(b"{}\n")
    done = _run_produce(
        f"--bootstrap_servers={bootstrap_servers}", f"--input={path}", f"--kind={kind}", "--limit=0"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["topic"] == expected_topic
