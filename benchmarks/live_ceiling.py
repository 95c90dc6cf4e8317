"""What the live path could reach if detection cost nothing: the runner's own ceiling.

    python benchmarks/kafka_streaming.py --entry benchmarks.live_ceiling \
        --pipeline_arg=--ceiling_steps=STEPS [--rates max ...]

A job with the live path's edges (Kafka in, ``ParseEvents``, Kafka out, the same options and
Flink defaults as ``pipelines.fraud``) and, between them, ``--ceiling_steps`` keyed ordered
steps that do nothing but order (``transforms.ordered_step`` with a handler that passes each
record on): ``none``, ``customer``, ``customer,customer`` or ``store,customer`` (the
product's shape). Every event is counted as ``scored`` (so ``benchmarks/kafka_streaming.py``
measures it like the real job) and one in a hundred is published as an alert. The difference
between these jobs and the real one is what detection itself costs; the ``store,customer``
job is the most the real one can sustain on this runner, whatever the detector does.
"""

from __future__ import annotations

import logging
import sys
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.fraud import pipeline_options
from pipelines.kafka import KafkaOptions, client_config, consumer_config, expansion_service
from pipelines.options import FraudOptions
from transforms.coders import (
    DetectorCell,
    DetectorCellCoder,
    buffered_customer_id,
    decode_buffered,
    encode_buffered,
)
from transforms.counters import NAMESPACE
from transforms.domain.blacklist import BlacklistHit
from transforms.domain.events import Transaction
from transforms.kafka_io import ReadKafkaRecords, WriteKafkaRecords
from transforms.ordered_step import ordered_step
from transforms.parse import ParseEvents
from transforms.tags import EVENTS_TAG
from transforms.version import PIPELINE_VERSION

STEPS = {
    "none": (),
    "customer": ("customer",),
    "store,customer": ("store", "customer"),
    "customer,customer": ("customer", "customer"),
    "shard": ("shard",),
    "store,shard": ("store", "shard"),
    "shard,shard": ("shard", "shard"),
}
SHARDS = 16


def _customer_key(customer_id: str, by_shard: bool) -> str:
    """A customer's own key, or its shard's (one of :data:`SHARDS`)."""
    return str(zlib.crc32(customer_id.encode()) % SHARDS) if by_shard else customer_id


class CeilingOptions(PipelineOptions):  # type: ignore[misc]
    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        parser.add_argument("--ceiling_steps", default="store,customer", choices=sorted(STEPS))


class PassOn:
    """A :class:`~transforms.ordered_step.KeyHandler` that orders and does nothing else:
    each record leaves keyed by its customer."""

    def __init__(self, by_shard: bool) -> None:
        self._by_shard = by_shard

    def setup(self) -> None:
        pass

    def new_cell(self) -> DetectorCell:
        return DetectorCell()

    def handle(self, key: str, cell: DetectorCell, records: list[bytes]) -> Iterator[Any]:
        for encoded in records:
            yield _customer_key(buffered_customer_id(encoded), self._by_shard), encoded

    def expires_at(self, cell: DetectorCell) -> int | None:
        return None

    def expire(self, cell: DetectorCell) -> bool:
        return False


OrderOnlyFn = ordered_step(
    __name__, "OrderOnlyFn", "cell", DetectorCellCoder(), "late_ceiling", "expired_ceiling"
)


def _key(event: Transaction, step: str) -> tuple[str, bytes]:
    encoded = encode_buffered(event, BlacklistHit(False, False))
    if step == "store":
        return event.store_id, encoded
    return _customer_key(event.customer_id, step == "shard"), encoded


class _CountFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self) -> None:
        self._scored = Metrics.counter(NAMESPACE, "scored")

    def process(self, element: tuple[str, bytes]) -> Iterator[dict[str, Any]]:
        self._scored.inc()
        event = decode_buffered(element[1])[0]
        assert isinstance(event, Transaction)
        if zlib.crc32(event.transaction_id.encode()) % 100 == 0:
            yield {"transaction_id": event.transaction_id, "customer_id": event.customer_id}


def build(pipeline: beam.Pipeline, options: PipelineOptions) -> None:
    kafka = options.view_as(KafkaOptions)
    ceiling = options.view_as(CeilingOptions)
    steps = STEPS[ceiling.ceiling_steps]
    expansion = expansion_service(kafka)
    raw = pipeline | "ReadEvents" >> ReadKafkaRecords(
        kafka.input_topic, consumer_config(kafka), expansion
    )
    events = (
        raw
        | "ParseEvents"
        >> ParseEvents(options.view_as(FraudOptions).business_timezone, 65536, PIPELINE_VERSION)
    )[EVENTS_TAG]
    keyed = events | "Key" >> beam.Map(_key, steps[0] if steps else "none").with_output_types(
        tuple[str, bytes]
    )
    for index, _ in enumerate(steps):
        next_by_shard = index + 1 < len(steps) and steps[index + 1] == "shard"
        step = OrderOnlyFn(PassOn(next_by_shard), True, arrival_lag_ms=1 if index else 0)
        keyed = keyed | f"Order{index}" >> beam.ParDo(step).with_output_types(tuple[str, bytes])
    alerts = keyed | "Count" >> beam.ParDo(_CountFn())
    producer = {**client_config(kafka), "enable.idempotence": "true", "acks": "all"}
    alerts | "PublishAlerts" >> WriteKafkaRecords(
        kafka.alerts_topic, "customer_id", producer, expansion
    )


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING)
    options = pipeline_options(sys.argv[1:] if argv is None else list(argv))
    pipeline = beam.Pipeline(options=options)
    build(pipeline, options)
    result = pipeline.run()
    try:
        result.wait_until_finish()
    except KeyboardInterrupt:
        result.cancel()


if __name__ == "__main__":
    main()
