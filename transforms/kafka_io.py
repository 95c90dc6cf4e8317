"""Kafka at the pipeline's edges: the events in, alerts and dead letters out.

Beam's Kafka IO is Java (cross-language): ``ReadFromKafka`` and ``WriteToKafka`` are expanded
by a Java expansion service and run by the runner, so only a streaming Flink job can use them.
What this module adds is the shape the rest of the pipeline expects:

* ``ReadKafkaRecords`` gives ``(source, payload)`` records like ``ReadJsonLines``, with source
  ``kafka:<topic>:<partition>:<offset>``, so a rejected record is found again by its
  coordinates. The payload is the record's value as bytes, untouched: an empty or non-UTF-8
  value reaches the dead-letter queue through ``ParseEvents`` like a bad line of a file.
  Records carry their create time (the producer stamps the event time), and the watermark
  follows it; a partition that is caught up lets the watermark advance to the wall clock.
  The feedback and blacklist-change topics follow their records' times too, so that the
  control records already on them when the job starts pass before the events they precede;
  the launcher's anchors (``pipelines.kafka.anchor_control_topics``) keep a quiet control
  topic from stalling the job.
* ``WriteKafkaRecords`` writes dict records as JSON, keyed by one of their fields.
"""

from __future__ import annotations

import json
from typing import Any

import apache_beam as beam
from apache_beam.io.kafka import ReadFromKafka, WriteToKafka

from transforms.read import RawRecord


def kafka_source(record: Any) -> RawRecord:
    """A Kafka record (with metadata) as ``(source, payload)``."""
    return f"kafka:{record.topic}:{record.partition}:{record.offset}", bytes(record.value or b"")


# The key of the records ``pipelines.kafka.anchor_control_topics`` writes; the read drops them.
ANCHOR_KEY = b"streamflow.watermark-anchor"


def is_data(record: Any) -> bool:
    return bool(record.key != ANCHOR_KEY)


class ReadKafkaRecords(beam.PTransform):  # type: ignore[misc]
    """The records of ``topic``, stamped with their create time, the watermark following it.

    ``control=True`` (feedback, blacklist and rules changes): the launcher anchors the topic's
    partitions before the job starts (``pipelines.kafka.anchor_control_topics``), so that one
    without traffic does not hold the job at the minimum watermark; the read drops the anchors.
    Following the records' times (not the wall clock) is what makes a control record already on
    the topic when the job starts count from its own time: its partition holds the watermark
    until the record is read, so the events it precedes wait for it in the stateful steps'
    buffers, whatever the order the topics were filled in and however fast each is read. A
    record published after the job started finds its partition caught up, its watermark at the
    wall clock, and counts from its arrival
    (docs/kafka.md, "Feedback and blacklist changes")."""

    def __init__(
        self,
        topic: str,
        consumer_config: dict[str, str],
        expansion_service: str,
        control: bool = False,
        commit_offsets: bool = True,
    ):
        super().__init__()
        self._topic = topic
        self._consumer_config = consumer_config
        self._expansion_service = expansion_service
        self._control = control
        self._commit_offsets = commit_offsets

    def expand(self, pipeline: Any) -> Any:
        records = pipeline | "Read" >> ReadFromKafka(
            consumer_config=self._consumer_config,
            topics=[self._topic],
            with_metadata=True,
            timestamp_policy=ReadFromKafka.create_time_policy,
            # Offsets are committed to the consumer group once a checkpoint completes, and
            # a restore from a checkpoint reads from the checkpoint's own. Without commits a
            # fresh start reads the topic from its beginning (the rules registry: all of it).
            commit_offset_in_finalize=self._commit_offsets,
            expansion_service=self._expansion_service,
        )
        if self._control:
            records = records | "DropAnchors" >> beam.Filter(is_data)
        return records | "ToRawRecords" >> beam.Map(kafka_source).with_output_types(
            tuple[str, bytes]
        )


def keyed_json(record: dict[str, Any], key_field: str) -> tuple[bytes, bytes]:
    key = record.get(key_field)
    value = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    return (b"" if key is None else str(key).encode("utf-8")), value.encode("utf-8")


class WriteKafkaRecords(beam.PTransform):  # type: ignore[misc]
    """Dict records to ``topic`` as JSON values with the ``key_field`` value as the key."""

    def __init__(
        self,
        topic: str,
        key_field: str,
        producer_config: dict[str, str],
        expansion_service: str,
    ) -> None:
        super().__init__()
        self._topic = topic
        self._key_field = key_field
        self._producer_config = producer_config
        self._expansion_service = expansion_service

    def expand(self, records: Any) -> Any:
        return (
            records
            | "ToKeyedJson"
            >> beam.Map(keyed_json, self._key_field).with_output_types(tuple[bytes, bytes])
            | "Write"
            >> WriteToKafka(
                producer_config=self._producer_config,
                topic=self._topic,
                expansion_service=self._expansion_service,
            )
        )
