"""The local broker that scripts/kafka.sh runs: its topics, and a record's round trip."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

pytestmark = pytest.mark.kafka

DAY_MS = 86_400_000
TOPICS = {  # name: (partitions, retention)
    "transactions.raw": (3, 7 * DAY_MS),
    "fraud.alerts": (3, 30 * DAY_MS),
    "streamflow.dlq": (1, 30 * DAY_MS),
    "metrics.realtime": (3, 7 * DAY_MS),
}


def test_the_topics_exist_with_their_partitions_and_retention(bootstrap_servers: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    metadata = admin.list_topics(timeout=10)
    for name, (partitions, retention) in TOPICS.items():
        assert len(metadata.topics[name].partitions) == partitions, name
        resource = ConfigResource(ResourceType.TOPIC, name)
        configs = admin.describe_configs([resource])[resource].result(timeout=10)
        assert int(configs["retention.ms"].value) == retention, name
    resource = ConfigResource(ResourceType.TOPIC, "metrics.realtime")
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    # a consumer keeps the latest pane of a key; compaction keeps it, retention ends it
    assert configs["cleanup.policy"].value == "compact,delete"


def test_a_keyed_record_keeps_its_key_timestamp_and_bytes(bootstrap_servers: str) -> None:
    topic, key, value = "transactions.raw", f"C-{uuid.uuid4().hex}", b"\xff not UTF-8"
    event_time_ms = 1_790_000_000_000
    producer = Producer(
        {"bootstrap.servers": bootstrap_servers, "enable.idempotence": True, "acks": "all"}
    )
    delivered = []
    producer.produce(
        topic,
        key=key,
        value=value,
        timestamp=event_time_ms,
        on_delivery=lambda error, message: delivered.append((error, message)),
    )
    assert producer.flush(10) == 0
    ((error, message),) = delivered
    assert error is None

    consumer = Consumer(
        {"bootstrap.servers": bootstrap_servers, "group.id": f"test-{uuid.uuid4().hex}"}
    )
    consumer.assign([TopicPartition(topic, message.partition(), message.offset())])
    try:
        read = consumer.poll(10)
    finally:
        consumer.close()
    assert read is not None
    assert read.error() is None
    assert (read.key(), read.value(), read.timestamp()[1]) == (key.encode(), value, event_time_ms)


def test_the_launcher_accepts_the_project_topics_and_names_a_missing_one(
    bootstrap_servers: str,
) -> None:
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.kafka import KafkaOptions, check_broker
    from pipelines.options import LaunchError

    def options(*argv: str) -> KafkaOptions:
        args = [f"--kafka_bootstrap_servers={bootstrap_servers}", *argv]
        return PipelineOptions(args).view_as(KafkaOptions)

    check_broker(options())  # the defaults are the topics scripts/kafka.sh creates
    missing = f"nowhere-{uuid.uuid4().hex[:8]}"
    with pytest.raises(LaunchError, match=f"no topic {missing} "):
        check_broker(options(f"--alerts_topic={missing}"))
