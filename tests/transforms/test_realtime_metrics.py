"""The store-minute metrics on a held-out stream (TestStream on the direct runner, streaming):
out-of-order and late scored transactions and dead letters, early, on-time and late panes. The
last pane of every window equals the bounded recomputation from the same input."""

from __future__ import annotations

import json
import random
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from transforms.domain.event_time import format_utc
from transforms.domain.store_minutes import (
    VALUE_FIELDS,
    cents,
    latest_panes,
    minute_record,
    store_minutes,
)
from transforms.realtime_metrics import StoreMinuteMetrics

START_MS = 1_790_000_000_000 - 1_790_000_000_000 % 60_000
STORES = ("S001", "S002", "S003")
METHODS = ("credit", "debit", None)


def _scored(index: int, event_ms: int, rng: random.Random) -> dict[str, Any]:
    return {
        "transaction_id": f"t{index}",
        "store_id": rng.choice(STORES),
        "amount": f"{rng.randint(1, 50_000) / 100:.2f}",
        "payment_method": rng.choice(METHODS),
        "event_time": format_utc(event_ms),
        "is_alert": rng.random() < 0.2,
    }


def _dead_letter(index: int, event_ms: int, rng: random.Random) -> dict[str, Any]:
    shape = index % 3
    if shape == 0:  # a payload naming its store and time (an invalid amount, say)
        payload = json.dumps({"store_id": rng.choice(STORES), "timestamp": format_utc(event_ms)})
    elif shape == 1:  # a store but no readable time: placed by its Kafka time
        payload = json.dumps({"store_id": rng.choice(STORES), "timestamp": "yesterday"})
    else:  # not JSON at all
        payload = "{not json"
    return {"dlq_id": f"d{index}", "raw_payload": payload}


def _held_out_stream() -> tuple[TestStream, list[dict[str, Any]], list[tuple[dict[str, Any], int]]]:
    """Four minutes of traffic, shuffled within each batch; a batch of late events for the
    first two minutes after the watermark passed them; processing time advancing between
    batches so that early panes fire."""
    rng = random.Random(24)
    scored: list[dict[str, Any]] = []
    dead: list[tuple[dict[str, Any], int]] = []
    stream = TestStream()
    late: list[TimestampedValue] = []
    index = 0
    for minute in range(4):
        batch: list[TimestampedValue] = []
        for _ in range(25):
            index += 1
            event_ms = START_MS + minute * 60_000 + rng.randrange(60_000)
            if index % 7 == 0:
                record = _dead_letter(index, event_ms, rng)
                dead.append((record, event_ms))
                item: tuple[str, dict[str, Any]] = ("dead", record)
            else:
                record = _scored(index, event_ms, rng)
                scored.append(record)
                item = ("scored", record)
            stamped = TimestampedValue(item, Timestamp(micros=event_ms * 1000))
            (late if minute < 2 and index % 5 == 0 else batch).append(stamped)
        rng.shuffle(batch)
        stream.add_elements(batch)
        stream.advance_processing_time(6)
        stream.advance_watermark_to(Timestamp(micros=(START_MS + minute * 60_000) * 1000))
    stream.advance_watermark_to(Timestamp(micros=(START_MS + 5 * 60_000) * 1000))
    stream.advance_processing_time(6)
    rng.shuffle(late)
    stream.add_elements(late)
    stream.advance_watermark_to_infinity()
    return stream, scored, dead


# Module-level: the direct runner pickles the matcher, and a module's globals stay shared.
_PANES: list[dict[str, Any]] = []


def _keep(records: list[dict[str, Any]]) -> None:  # assert_that hands over every pane
    _PANES.extend(records)


def _run(stream: TestStream) -> Any:
    options = PipelineOptions([])
    options.view_as(StandardOptions).streaming = True
    _PANES.clear()

    with TestPipeline(runner="BundleBasedDirectRunner", options=options) as p:
        items = p | stream
        parts = items | beam.Partition(lambda item, _: 0 if item[0] == "scored" else 1, 2)
        inputs = {
            "scored": parts[0] | "Scored" >> beam.Map(lambda item: item[1]),
            "dead_letters": parts[1] | "Dead" >> beam.Map(lambda item: item[1]),
        }
        records = inputs | StoreMinuteMetrics(early_firing_s=5)
        assert_that(records, _keep)
    return list(_PANES)


def test_the_last_pane_of_every_minute_equals_the_bounded_recomputation() -> None:
    stream, scored, dead = _held_out_stream()
    panes = _run(stream)
    latest = latest_panes(panes)
    expected = store_minutes(scored, dead)
    assert {key: {f: pane[f] for f in VALUE_FIELDS} for key, pane in latest.items()} == {
        key: {f: record[f] for f in VALUE_FIELDS} for key, record in expected.items()
    }
    # The stream did what it was built for: early panes before the watermark, late ones after.
    timings = {pane["pane_timing"] for pane in panes}
    assert {"EARLY", "ON_TIME", "LATE"} <= timings, timings
    # Late panes corrected minutes that had been published before: with accumulating panes
    # the equality above holds; with discarding ones it would not.
    corrected = [pane for pane in panes if pane["pane_timing"] == "LATE" and pane["pane_index"] > 0]
    assert any(latest[pane["window_key"]] is pane for pane in corrected)
    # One pane of a window is numbered once.
    numbered = [(pane["window_key"], pane["pane_index"]) for pane in panes]
    assert len(numbered) == len(set(numbered))


def test_amounts_are_summed_exactly_in_cents_by_payment_method() -> None:
    scored = [
        {
            "store_id": "S1",
            "amount": "0.10",
            "payment_method": "pix",
            "is_alert": False,
            "event_time": format_utc(START_MS),
        },
        {
            "store_id": "S1",
            "amount": "0.20",
            "payment_method": None,
            "is_alert": True,
            "event_time": format_utc(START_MS + 59_999),
        },
        {
            "store_id": "S1",
            "amount": "9999999999.99",
            "payment_method": "pix",
            "is_alert": False,
            "event_time": format_utc(START_MS + 60_000),
        },
    ]
    minutes = store_minutes(scored, [({"raw_payload": "[]"}, START_MS)])
    first = minutes[f"S1|{format_utc(START_MS)}"]
    assert first["amount"] == "0.30"  # 0.1 + 0.2 in floats is 0.30000000000000004
    assert first["amount_by_payment_method"] == {"pix": "0.10", "unknown": "0.20"}
    assert (first["transactions"], first["alerts"], first["dead_letters"]) == (2, 1, 0)
    second = minutes[f"S1|{format_utc(START_MS + 60_000)}"]
    assert second["amount"] == "9999999999.99"
    assert minutes[f"(unknown)|{format_utc(START_MS)}"]["dead_letters"] == 1
    assert cents("12.3") == 1230


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "null",
        '{"store_id": 5, "timestamp": 7}',
        "[" * 5000,
        # beyond the calendar the parser accepts: its minute's end would not be a date
        '{"store_id": "S1", "timestamp": "9999-12-31T23:59:30+00:00"}',
        '{"store_id": "S1", "event_time": "0001-01-01T00:00:00-12:00"}',
    ],
)
def test_a_dead_letter_of_any_shape_is_placed_without_raising(payload: str) -> None:
    minutes = store_minutes([], [({"raw_payload": payload}, START_MS)])
    assert [record["dead_letters"] for record in minutes.values()] == [1]
    # placed by its record's own time
    assert [record["window_start"] for record in minutes.values()] == [format_utc(START_MS)]


def test_a_consumer_keeps_the_fullest_pane_of_a_minute_whatever_its_index() -> None:
    before_failure = minute_record("S1", START_MS, [3, 300, 0, 0, {}], 7, "EARLY")
    restored = minute_record("S1", START_MS, [4, 400, 0, 0, {}], 1, "ON_TIME")
    replayed = minute_record("S1", START_MS, [2, 200, 0, 0, {}], 0, "EARLY")
    for order in ([before_failure, restored, replayed], [replayed, restored, before_failure]):
        assert latest_panes(order)[restored["window_key"]] is restored
