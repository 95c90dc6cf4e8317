"""Warm-up without output: records whose event time is before ``--emit_from`` are dropped.

A backfill of a date range reads the history before the range too, so that each customer's
state (amount and hour statistics, last location, velocity window) is what the live run had
when it scored the range's events. The warm-up events pass through the detector like any
other; only their outputs (scored rows, alerts, bronze rows) stop here, counted as
``warmup_events``. Dead letters are not cut: a record the parser rejected has no trusted event
time, and its ``dlq_id`` (from source and payload) keeps a sink idempotent when a backfill
reads its file again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.counters import NAMESPACE, WARMUP_EVENTS
from transforms.domain.event_time import parse_timestamp


class _KeepFrom(beam.DoFn):  # type: ignore[misc]
    def __init__(self, emit_from_ms: int, counted: bool) -> None:
        self._emit_from_ms = emit_from_ms
        self._counted = counted
        self._warmup = Metrics.counter(NAMESPACE, WARMUP_EVENTS)

    def process(self, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if parse_timestamp(record["event_time"], None) >= self._emit_from_ms:
            yield record
        elif self._counted:
            self._warmup.inc()


class EmitFrom(beam.PTransform):  # type: ignore[misc]
    """Keeps the records with ``event_time`` (ISO-8601 UTC) at or after ``emit_from_ms``.
    ``counted``: the dropped ones are the warm-up events of the run (count each event once)."""

    def __init__(self, emit_from_ms: int, counted: bool = False) -> None:
        super().__init__()
        self._emit_from_ms = emit_from_ms
        self._counted = counted

    def expand(self, records: Any) -> Any:
        return records | beam.ParDo(_KeepFrom(self._emit_from_ms, self._counted))
