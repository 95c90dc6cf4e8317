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
from collections.abc import Sequence
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from benchmarks.ceiling_steps import STEPS, CountFn, OrderOnlyFn, PassOn, key_for
from pipelines.fraud import pipeline_options
from pipelines.kafka import KafkaOptions, client_config, consumer_config, expansion_service
from pipelines.options import FraudOptions
from transforms.kafka_io import ReadKafkaRecords, WriteKafkaRecords
from transforms.parse import ParseEvents
from transforms.tags import EVENTS_TAG
from transforms.version import PIPELINE_VERSION


class CeilingOptions(PipelineOptions):  # type: ignore[misc]
    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        parser.add_argument("--ceiling_steps", default="store,customer", choices=sorted(STEPS))


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
    keyed = events | "Key" >> beam.Map(key_for, steps[0] if steps else "none").with_output_types(
        tuple[str, bytes]
    )
    for index, _ in enumerate(steps):
        next_by_shard = index + 1 < len(steps) and steps[index + 1] == "shard"
        step = OrderOnlyFn(PassOn(next_by_shard), True, arrival_lag_ms=1 if index else 0)
        keyed = keyed | f"Order{index}" >> beam.ParDo(step).with_output_types(tuple[str, bytes])
    alerts = keyed | "Count" >> beam.ParDo(CountFn())
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
