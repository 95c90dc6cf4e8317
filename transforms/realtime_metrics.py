"""StoreMinuteMetrics: per store and minute of event time, the live job's retail metrics.

Each scored transaction and each dead letter of the events becomes a contribution stamped with
its event time (a dead letter: the time its payload gives, else its record's own timestamp, the
Kafka time in a live job), keyed by store, windowed into minutes and summed.

Panes: an early one every ``early_firing_s`` of processing time while the minute is open, the
on-time one when the watermark passes its end, and a late one for every late contribution
within ``allowed_lateness_s``. Panes accumulate: each carries the minute's whole value so far,
so a consumer keeps the latest pane of a key (the topic is keyed by ``window_key``, the
warehouse upserts it) and a late event updates its minute without being counted twice.
A contribution later than the allowed lateness is left out of the real-time metrics only (its
transaction is scored and stored like any other; the hourly gold tables count it); Beam on
Flink counts those as ``droppedDueToLateness``. A live job's events are minutes old at most,
but a replay of older data after a restart is late by its age (a caught-up partition lets the
watermark reach the wall clock): ``--metrics_allowed_lateness_s`` must then cover it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger
from apache_beam.transforms.window import FixedWindows, TimestampedValue
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Duration, Timestamp
from apache_beam.utils.windowed_value import PaneInfoTiming

from transforms.counters import NAMESPACE, REALTIME_UNPLACED_DEAD_LETTERS
from transforms.domain.event_time import parse_timestamp
from transforms.domain.store_minutes import (
    WINDOW_MS,
    Minute,
    add_dead_letter,
    add_into,
    add_scored,
    dead_letter_place,
    empty_minute,
    merge,
    minute_record,
)

# Measured on the live job (docs/benchmarks.md, "Real-time store metrics"): a pane per store
# every 5 s is what a dashboard refreshing every 5-10 s needs.
DEFAULT_EARLY_FIRING_S = 5
# A store's minute is kept (and corrected by late events) for an hour after its end.
DEFAULT_ALLOWED_LATENESS_S = 3600


def _stamp(epoch_ms: int, value: Any) -> TimestampedValue:
    return TimestampedValue(value, Timestamp(micros=epoch_ms * 1000))


def _scored_contribution(record: dict[str, Any]) -> TimestampedValue:
    minute = add_scored(empty_minute(), record)
    return _stamp(parse_timestamp(record["event_time"], None), (record["store_id"], minute))


class _DeadLetterContributionFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self) -> None:
        self._unplaced = Metrics.counter(NAMESPACE, REALTIME_UNPLACED_DEAD_LETTERS)

    def process(
        self, dead_letter: dict[str, Any], timestamp: Any = beam.DoFn.TimestampParam
    ) -> Iterator[TimestampedValue]:
        store_id, event_time_ms = dead_letter_place(dead_letter)
        if event_time_ms is None:
            if timestamp <= MIN_TIMESTAMP:  # a file's line: no time of its own
                self._unplaced.inc()
                return
            event_time_ms = timestamp.micros // 1000
        yield _stamp(event_time_ms, (store_id, add_dead_letter(empty_minute())))


class _SumMinutes(beam.CombineFn):  # type: ignore[misc]
    def create_accumulator(self) -> Minute:
        return empty_minute()

    def add_input(self, accumulator: Minute, minute: Minute) -> Minute:
        return add_into(accumulator, minute)

    def merge_accumulators(self, accumulators: Iterable[Minute]) -> Minute:
        return merge(accumulators)

    def extract_output(self, accumulator: Minute) -> Minute:
        return accumulator


def _pane_record(
    keyed: tuple[str, Minute],
    window: Any = beam.DoFn.WindowParam,
    pane: Any = beam.DoFn.PaneInfoParam,
) -> dict[str, Any]:
    store_id, minute = keyed
    return minute_record(
        store_id,
        window.start.micros // 1000,
        minute,
        pane_index=pane.index,
        pane_timing=PaneInfoTiming.to_string(pane.timing),
    )


class StoreMinuteMetrics(beam.PTransform):  # type: ignore[misc]
    """``{"scored": ..., "dead_letters": ...}`` to store-minute records (one per pane)."""

    def __init__(
        self,
        early_firing_s: int = DEFAULT_EARLY_FIRING_S,
        allowed_lateness_s: int = DEFAULT_ALLOWED_LATENESS_S,
    ) -> None:
        super().__init__()
        self._early_firing_s = early_firing_s
        self._allowed_lateness_s = allowed_lateness_s

    def expand(self, inputs: dict[str, Any]) -> Any:
        from_scored = inputs["scored"] | "FromScored" >> beam.Map(_scored_contribution)
        from_dead = inputs["dead_letters"] | "FromDeadLetters" >> beam.ParDo(
            _DeadLetterContributionFn()
        )
        return (
            (from_scored, from_dead)
            | "Contributions" >> beam.Flatten()
            | "Minutes"
            >> beam.WindowInto(
                FixedWindows(WINDOW_MS // 1000),
                trigger=trigger.AfterWatermark(
                    early=trigger.AfterProcessingTime(self._early_firing_s),
                    late=trigger.AfterCount(1),
                ),
                accumulation_mode=trigger.AccumulationMode.ACCUMULATING,
                allowed_lateness=Duration(seconds=self._allowed_lateness_s),
            )
            | "Sum" >> beam.CombinePerKey(_SumMinutes())
            | "Records" >> beam.Map(_pane_record)
        )
