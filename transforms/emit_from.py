"""Warm-up without output: records whose event time is before ``--emit_from`` are dropped.

A backfill of a date range reads the history before the range too, so that each customer's
state (amount and hour statistics, last location, velocity window) is what the live run had
when it scored the range's events. The warm-up events pass through the detector like any
other; only their outputs (scored rows, alerts, bronze rows) stop here, counted as
``warmup_events``. Their dead letters were written by the run that first read them: a record
the parser rejected has no trusted event time, so it is known by its file (``--warmup_input``),
and one the detector failed by its event time; both are dropped, counted as
``warmup_dead_letters`` (the ``dlq_*`` counters, counted where the records were made, keep the
conservation law).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.counters import NAMESPACE, WARMUP_DEAD_LETTERS, WARMUP_EVENTS
from transforms.domain.dlq import dead_letter_event_time
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


def _source_file(source: str) -> str | None:
    """The path of a ``file:<path>:<line>`` source; ``None`` for other sources."""
    if not source.startswith("file:"):
        return None
    path, _, line = source[len("file:") :].rpartition(":")
    return path if line.isdigit() else None


class _DropWarmupDeadLetters(beam.DoFn):  # type: ignore[misc]
    def __init__(self, warmup_files: frozenset[str], emit_from_ms: int | None) -> None:
        self._warmup_files = warmup_files
        self._emit_from_ms = emit_from_ms
        self._dropped = Metrics.counter(NAMESPACE, WARMUP_DEAD_LETTERS)

    def process(self, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if _source_file(record["source"]) in self._warmup_files or self._before_emit(record):
            self._dropped.inc()
            return
        yield record

    def _before_emit(self, record: dict[str, Any]) -> bool:
        if self._emit_from_ms is None or record["stage"] != "detect":
            return False
        # The detector's dead letters carry the parsed event, with its event time.
        event_time_ms = dead_letter_event_time(json.loads(record["raw_payload"]))
        return event_time_ms is not None and event_time_ms < self._emit_from_ms


class DropWarmupDeadLetters(beam.PTransform):  # type: ignore[misc]
    """Drops the dead letters of the warm-up: those read from ``warmup_files`` (paths as the
    read reports them), and those the detector made of events before ``emit_from_ms``."""

    def __init__(self, warmup_files: frozenset[str], emit_from_ms: int | None) -> None:
        super().__init__()
        self._warmup_files = warmup_files
        self._emit_from_ms = emit_from_ms

    def expand(self, records: Any) -> Any:
        return records | beam.ParDo(_DropWarmupDeadLetters(self._warmup_files, self._emit_from_ms))
