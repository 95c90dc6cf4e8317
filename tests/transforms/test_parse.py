"""ParseEvents on FnApiRunner: every record ends up either as an event or as a DLQ record."""

from __future__ import annotations

from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.options import FN_API_RUNNER
from tests.factories import event, payload, raw_record
from transforms.domain.json_fields import ErrorType
from transforms.parse import DLQ_TAG, EVENTS_TAG, ParseEvents

MAX_BYTES = 4096

CASES: list[tuple[bytes, ErrorType]] = [
    (b"{not json", ErrorType.INVALID_JSON),
    (b"\xff\xfe\x00garbage", ErrorType.INVALID_JSON),
    (b'{"amount": NaN}', ErrorType.INVALID_JSON),
    (b"[1, 2, 3]", ErrorType.NOT_AN_OBJECT),
    (
        payload({k: v for k, v in event("m1").items() if k != "customer_id"}),
        ErrorType.MISSING_FIELD,
    ),
    (payload(event("f1", amount="-3.00")), ErrorType.INVALID_FIELD),
    (payload(event("f2", timestamp="2026-10-01T10:00:00")), ErrorType.INVALID_FIELD),
    (payload(event("s0", schema_version=0)), ErrorType.UNSUPPORTED_SCHEMA),
    (payload(event("big", note="x" * MAX_BYTES)), ErrorType.PAYLOAD_TOO_LARGE),
]


def _pipeline() -> TestPipeline:
    return TestPipeline(runner=FN_API_RUNNER, options=PipelineOptions([]))


def _parse(records: Any) -> Any:
    return records | ParseEvents("America/Sao_Paulo", MAX_BYTES, "test")


@pytest.mark.parametrize(
    ("raw", "error_type"), CASES, ids=[c[1].value + str(i) for i, c in enumerate(CASES)]
)
def test_each_error_type_is_routed_to_the_dlq_with_its_payload(
    raw: bytes, error_type: ErrorType
) -> None:
    with _pipeline() as p:
        parsed = _parse(p | beam.Create([("file:in.jsonl:7", raw)]))
        assert_that(parsed[EVENTS_TAG], equal_to([]), label="NoEvents")
        assert_that(
            parsed[DLQ_TAG]
            | beam.Map(lambda r: (r["error_type"], r["source"], r["stage"], r["raw_size_bytes"])),
            equal_to([(error_type.value, "file:in.jsonl:7", "parse", len(raw))]),
        )


def test_read_equals_events_plus_dead_letters() -> None:
    valid = [raw_record(event(f"ok{i}"), line=i) for i in range(5)]
    invalid = [(f"test:{100 + i}", raw) for i, (raw, _) in enumerate(CASES)]
    with _pipeline() as p:
        parsed = _parse(p | beam.Create(valid + invalid))
        events = parsed[EVENTS_TAG] | "EventIds" >> beam.Map(lambda e: e.transaction_id)
        dead = parsed[DLQ_TAG] | "DlqSources" >> beam.Map(lambda r: r["source"])
        assert_that(events, equal_to([f"ok{i}" for i in range(5)]), label="Events")
        assert_that(dead, equal_to([source for source, _ in invalid]), label="DeadLetters")
    result = p.result
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(beam.metrics.MetricsFilter())["counters"]
    }
    assert counters["read"] == len(valid) + len(invalid)
    assert counters["parsed"] == len(valid)
    assert sum(v for k, v in counters.items() if k.startswith("dlq_")) == len(invalid)


def test_future_schema_versions_are_scored_and_counted() -> None:
    future = event("v3", schema_version=3, loyalty_tier="gold")
    with _pipeline() as p:
        parsed = _parse(p | beam.Create([raw_record(future)]))
        assert_that(
            parsed[EVENTS_TAG] | beam.Map(lambda e: (e.transaction_id, e.schema_version)),
            equal_to([("v3", 3)]),
        )
    counters = {
        c.key.metric.name: c.committed
        for c in p.result.metrics().query(beam.metrics.MetricsFilter())["counters"]
    }
    assert counters["future_schema_events"] == 1
