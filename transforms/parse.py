"""ParseEvents: raw records to validated transactions, or dead-letter records with a reason.

Every input ends in exactly one of the two outputs, and the counters prove it:
``read = parsed + sum(dlq_<ERROR_TYPE>)``. Valid events are stamped with their event time so
the downstream ordering buffer and timers work in event time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.timestamp import Timestamp

from transforms.counters import (
    DLQ_PREFIX,
    FUTURE_SCHEMA,
    NAMESPACE,
    NEWEST_EVENT_TIME_MS,
    PARSED,
    READ,
)
from transforms.domain.dlq import build_dlq_record
from transforms.domain.event_time import business_timezone, format_utc
from transforms.domain.events import (
    CURRENT_SCHEMA_VERSION,
    InvalidEvent,
    Transaction,
    parse_event,
)
from transforms.domain.json_fields import ErrorType
from transforms.tags import DLQ_TAG, EVENTS_TAG, RAW_TAG


class ParseEventsFn(beam.DoFn):  # type: ignore[misc]
    def __init__(
        self,
        timezone_name: str,
        max_payload_bytes: int,
        pipeline_version: str,
        emit_raw: bool = False,
        report_newest_event_time: bool = False,
    ) -> None:
        self._emit_raw = emit_raw
        self._report_newest = report_newest_event_time
        self._newest = Metrics.gauge(NAMESPACE, NEWEST_EVENT_TIME_MS)
        self._timezone_name = timezone_name
        self._max_payload_bytes = max_payload_bytes
        self._pipeline_version = pipeline_version
        self._read = Metrics.counter(NAMESPACE, READ)
        self._parsed = Metrics.counter(NAMESPACE, PARSED)
        self._future_schema = Metrics.counter(NAMESPACE, FUTURE_SCHEMA)
        self._dlq = {
            kind: Metrics.counter(NAMESPACE, DLQ_PREFIX + kind.value) for kind in ErrorType
        }

    def setup(self) -> None:
        self._zone = business_timezone(self._timezone_name)

    def start_bundle(self) -> None:
        self._newest_ms: int | None = None

    def finish_bundle(self) -> None:
        # Once per bundle, not per event (docs/monitoring.md, the event-time lag).
        if self._report_newest and self._newest_ms is not None:
            self._newest.set(self._newest_ms)

    def process(self, record: tuple[str, bytes]) -> Iterator[Any]:
        source, payload = record
        self._read.inc()
        result = parse_event(payload, self._zone, self._max_payload_bytes)
        if isinstance(result, Transaction):
            self._parsed.inc()
            if result.schema_version > CURRENT_SCHEMA_VERSION:
                self._future_schema.inc()
            if self._newest_ms is None or result.event_time_ms > self._newest_ms:
                self._newest_ms = result.event_time_ms
            yield beam.window.TimestampedValue(
                result, Timestamp(micros=result.event_time_ms * 1000)
            )
            if self._emit_raw:
                yield beam.pvalue.TaggedOutput(RAW_TAG, _raw_record(source, payload, result))
            return
        yield beam.pvalue.TaggedOutput(DLQ_TAG, self._dead_letter(source, payload, result))

    def _dead_letter(self, source: str, payload: bytes, invalid: InvalidEvent) -> dict[str, Any]:
        self._dlq[invalid.error_type].inc()
        return build_dlq_record(
            error_type=invalid.error_type,
            error_message=invalid.message,
            stage="parse",
            source=source,
            raw_payload=payload,
            received_at=datetime.now(UTC).isoformat(),
            pipeline_version=self._pipeline_version,
            schema_version=invalid.schema_version,
        )


def _raw_record(source: str, payload: bytes, event: Transaction) -> dict[str, Any]:
    """A valid event as it arrived, with its position: the bronze layer's row."""
    return {
        "transaction_id": event.transaction_id,
        "customer_id": event.customer_id,
        "event_time": format_utc(event.event_time_ms),
        "schema_version": event.schema_version,
        "source": source,
        "raw_payload": payload.decode("utf-8"),  # parsed, hence valid UTF-8 JSON
    }


class ParseEvents(beam.PTransform):  # type: ignore[misc]
    """``(source, payload)`` records in; ``events`` (Transaction) and ``dlq`` (dict) out, and
    with ``emit_raw`` the valid events as they arrived (``raw``, for the bronze layer)."""

    def __init__(
        self,
        timezone_name: str,
        max_payload_bytes: int,
        pipeline_version: str,
        emit_raw: bool = False,
        report_newest_event_time: bool = False,
    ) -> None:
        super().__init__()
        self._fn = ParseEventsFn(
            timezone_name, max_payload_bytes, pipeline_version, emit_raw, report_newest_event_time
        )

    def expand(self, records: Any) -> Any:
        return records | "Validate" >> beam.ParDo(self._fn).with_outputs(
            DLQ_TAG, RAW_TAG, main=EVENTS_TAG
        )
