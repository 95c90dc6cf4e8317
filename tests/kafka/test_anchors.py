"""The anchors that keep a quiet control topic from stalling the live job (pipelines/kafka.py):
one record per partition, after what the partition holds, stamped with the launch time, and
dropped by the read before the parser sees it."""

from __future__ import annotations

import time
from typing import NamedTuple

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from confluent_kafka import Consumer, TopicPartition

from pipelines.kafka import KafkaOptions, anchor_control_topics, control_heartbeat
from pipelines.options import LaunchError
from tests.kafka.live import Topics, reader
from transforms.kafka_io import ANCHOR_KEY, is_data

pytestmark = pytest.mark.kafka


def _records(bootstrap_servers: str, topic: str, expected: int) -> list[tuple[int, bytes, int]]:
    consumer = reader(bootstrap_servers, [topic], "anchors")
    seen: list[tuple[int, bytes, int]] = []
    deadline = time.monotonic() + 30
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and not message.error():
                seen.append((message.partition(), message.key(), message.timestamp()[1]))
    finally:
        consumer.close()
    return seen


def test_every_partition_of_a_control_topic_gets_one_anchor_stamped_now(
    bootstrap_servers: str, topics: Topics
) -> None:
    before_ms = int(time.time() * 1000)
    options = _options(bootstrap_servers, topics.feedback, topics.blacklist_changes, topics.rules)

    anchored = anchor_control_topics(options)

    # The compacted topics too: their anchors are keyed.
    assert anchored == {topics.feedback: 3, topics.blacklist_changes: 1, topics.rules: 1}

    feedback = _records(bootstrap_servers, topics.feedback, 3)
    assert sorted(partition for partition, _, _ in feedback) == [0, 1, 2]
    assert {key for _, key, _ in feedback} == {ANCHOR_KEY}
    assert all(stamp >= before_ms for _, _, stamp in feedback)
    for compacted in (topics.blacklist_changes, topics.rules):
        assert [key for _, key, _ in _records(bootstrap_servers, compacted, 1)] == [ANCHOR_KEY]


def _options(
    bootstrap_servers: str, feedback: str, blacklist_changes: str, rules: str = "reference.rules"
) -> KafkaOptions:
    return PipelineOptions(
        [
            f"--kafka_bootstrap_servers={bootstrap_servers}",
            f"--feedback_topic={feedback}",
            f"--blacklist_changes_topic={blacklist_changes}",
            f"--rules_topic={rules}",
        ]
    ).view_as(KafkaOptions)


def test_an_unreachable_broker_is_one_clear_error() -> None:
    options = _options("127.0.0.1:9", "fraud.feedback", "reference.blacklist")

    with pytest.raises(LaunchError, match=r"anchoring fraud\.feedback"):
        anchor_control_topics(options, timeout_s=2)


def test_while_the_job_runs_its_control_topics_get_an_anchor_at_every_beat(
    bootstrap_servers: str, topics: Topics
) -> None:
    # A job restored from a checkpoint can restart a control partition at the minimum
    # watermark (pipelines.kafka.keep_anchoring): the launcher anchors again at every beat.
    options = _options(bootstrap_servers, topics.feedback, topics.blacklist_changes, topics.rules)
    with control_heartbeat(options, every_s=1.0):
        blacklist = _records(bootstrap_servers, topics.blacklist_changes, 3)
    assert [key for _, key, _ in blacklist] == [ANCHOR_KEY] * 3
    # Each beat anchors every partition of both topics, the feedback topic first.
    assert all(count >= 3 for count in _partition_sizes(bootstrap_servers, topics.feedback))


def _partition_sizes(bootstrap_servers: str, topic: str) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": "it-anchors-sizes"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return [
            consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
            for partition in sorted(partitions)
        ]
    finally:
        consumer.close()


def test_a_broker_gone_while_the_job_runs_is_a_warning_not_a_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    options = _options("127.0.0.1:9", "fraud.feedback", "reference.blacklist")
    with caplog.at_level("WARNING", logger="pipelines.kafka"), control_heartbeat(options, 0.2):
        time.sleep(3)
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1, warnings  # once, not at every beat
    assert "control topics not anchored" in warnings[0]


class Record(NamedTuple):  # the fields of ReadFromKafka's records that the filter reads
    key: bytes | None
    value: bytes


def test_the_read_drops_anchors_only() -> None:
    assert not is_data(Record(ANCHOR_KEY, b""))
    assert is_data(Record(b"C000001", b"{}"))
    assert is_data(Record(None, b""))  # a malformed event: a dead letter, not an anchor
