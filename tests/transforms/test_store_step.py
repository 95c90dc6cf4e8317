"""The store step: each store's transactions and confirmed frauds in event-time order, each
transaction leaving with its store's counts just before it.

The streaming path (state, buffer, timers) runs alone here on the direct runner, whose timers
do not hold the watermark (transforms.detect.DetectFraud says why); the bounded path and the
whole detector run on the FnApiRunner.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.utils.timestamp import Timestamp

from pipelines.options import FN_API_RUNNER
from tests.collect import new_collector, take
from tests.factories import T0, event, feedback, payload, raw_record
from transforms.coders import (
    StoreCell,
    StoreCellCoder,
    buffered_event_time,
    decode_buffered,
    encode_feedback,
)
from transforms.domain.blacklist import Blacklist
from transforms.domain.blacklist_changes import BlacklistChange
from transforms.domain.config import default_rules
from transforms.domain.event_time import business_timezone
from transforms.domain.events import parse_event
from transforms.domain.feedback import Feedback, parse_feedback
from transforms.domain.store_risk import StoreRisk
from transforms.fraud_detection import DetectFraud, _screen_and_key
from transforms.parse import ParseEvents
from transforms.store_step import StoreActivityFn, TrackStores
from transforms.tags import EVENTS_TAG, SCORED_TAG

ZONE = "America/Sao_Paulo"
RULES = default_rules()
STORE = "S-SKIM-01"
NO_BLACKLIST = Blacklist()


def _store_records(documents: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    """Events and feedback as the detector keys them for the store step."""
    records = []
    for document in documents:
        if "reported_at" in document:
            parsed = parse_feedback(payload(document))
            assert isinstance(parsed, Feedback)
            records.append((parsed.store_id, encode_feedback(parsed)))
        else:
            transaction = parse_event(payload(document), business_timezone(ZONE), 1 << 20)
            records.append(_screen_and_key(transaction, NO_BLACKLIST, True))  # type: ignore[arg-type]
    return records


def _time_of(record: tuple[str, bytes]) -> float:
    return buffered_event_time(record[1]) / 1000


def _skimmed_store() -> list[dict[str, Any]]:
    """Ten days of two purchases a day at one store; four of day 0's are reported as fraud on
    day 3 at 09:00, and one genuine verdict arrives too."""
    documents = [
        event(f"d{day}-{n}", f"C{n}", at=timedelta(days=day, hours=n), store_id=STORE)
        for day in range(10)
        for n in range(2)
    ]
    documents += [
        feedback(f"old-{n}", f"V{n}", at=timedelta(days=3, hours=-3), store_id=STORE)
        for n in range(4)
    ]
    documents.append(
        feedback("d0-0", "C0", at=timedelta(days=3, hours=-3), store_id=STORE, label="genuine")
    )
    return documents


def _risks(scored_or_released: list[tuple[str, bytes]]) -> dict[str, StoreRisk]:
    risks = {}
    for _, encoded in scored_or_released:
        transaction, _, risk = decode_buffered(encoded)  # type: ignore[misc]
        risks[transaction.transaction_id] = risk
    return risks


def _expected_risks() -> dict[str, StoreRisk]:
    """By hand: each purchase sees the purchases of the windows before it; the four frauds
    count from day 3 09:00 (12:00 is the first purchase after), the genuine verdict never."""
    expected = {}
    for day in range(10):
        for n in range(2):
            moment = day * 24 + n  # hours after T0
            seen = [(d * 24 + k) for d in range(10) for k in range(2) if d * 24 + k < moment]
            counts = tuple(sum(1 for h in seen if moment - h < 24 * w) for w in (1, 7, 30))
            frauds = 4 if moment >= 3 * 24 else 0
            reported = tuple(frauds if moment - (3 * 24 - 3) < 24 * w else 0 for w in (1, 7, 30))
            expected[f"d{day}-{n}"] = StoreRisk(counts, reported)
    return expected


def _streamed(records: list[tuple[str, bytes]], watermarks: list[float]) -> list[Any]:
    stream = TestStream()
    third = -(-len(records) // 3)
    chunks = [records[i * third : (i + 1) * third] for i in range(3)]
    for chunk, watermark in zip(chunks, watermarks, strict=True):
        stream = stream.add_elements(
            [beam.window.TimestampedValue(record, _time_of(record)) for record in chunk]
        )
        stream = stream.advance_watermark_to(watermark)
    stream = stream.advance_watermark_to_infinity()
    return _run_store_stream(stream)


def _run_store_stream(stream: TestStream) -> list[Any]:
    """The store step alone, streaming, on the direct runner: what it released."""
    options = PipelineOptions([])
    options.view_as(StandardOptions).streaming = True
    name, collect = new_collector()
    with TestPipeline(runner="BundleBasedDirectRunner", options=options) as p:
        released = p | stream | TrackStores(NO_BLACKLIST, grouped=False, streaming=True)
        released | beam.Map(collect)
    return take(name)


def _grouped(records: list[tuple[str, bytes]]) -> list[Any]:
    name, collect = new_collector()
    with TestPipeline(runner=FN_API_RUNNER, options=PipelineOptions([])) as p:
        released = (
            p | beam.Create(records) | TrackStores(NO_BLACKLIST, grouped=True, streaming=False)
        )
        released | beam.Map(collect)
    return take(name)


def test_each_transaction_carries_its_stores_counts_just_before_it_on_both_paths() -> None:
    records = _store_records(_skimmed_store())
    shuffled = random.Random(7).sample(records, len(records))
    start = T0.timestamp()

    grouped = _grouped(shuffled)
    # In order, in three bursts, the watermark moving to the last record of each; and shuffled,
    # the watermark held before every record until the end.
    ordered = sorted(records, key=_time_of)
    third = -(-len(ordered) // 3)
    streamed = _streamed(
        ordered, [_time_of(ordered[min(i * third + third, len(ordered)) - 1]) for i in range(3)]
    )
    streamed_shuffled = _streamed(shuffled, [start - 3, start - 2, start - 1])

    assert _risks(grouped) == _expected_risks()
    assert _risks(streamed) == _risks(grouped)
    assert _risks(streamed_shuffled) == _risks(grouped)
    assert {customer for customer, _ in grouped} == {"C0", "C1"}  # keyed by customer next


def test_records_of_one_instant_see_the_store_as_before_any_of_them() -> None:
    same_instant = [event(f"t{n}", f"C{n}", at=timedelta(days=1), store_id=STORE) for n in range(3)]
    same_instant.append(feedback("x", "V", at=timedelta(days=1), store_id=STORE))

    risks = _risks(_grouped(_store_records(same_instant)))

    # A fraud reported at the instant counts; the instant's other purchases do not.
    assert set(risks.values()) == {StoreRisk((0, 0, 0), (1, 1, 1))}


def test_a_late_record_reads_the_windows_up_to_its_own_hour() -> None:
    early = _store_records(
        [event("a", "C1", store_id=STORE), event("b", "C2", at=timedelta(hours=2), store_id=STORE)]
    )
    late = _store_records([event("late", "C3", at=timedelta(hours=1), store_id=STORE)])
    stream = (
        TestStream()
        .add_elements([beam.window.TimestampedValue(r, _time_of(r)) for r in early])
        .advance_watermark_to(T0.timestamp() + 3 * 3600)
        .add_elements([beam.window.TimestampedValue(r, _time_of(r)) for r in late])
        .advance_watermark_to_infinity()
    )

    risks = _risks(_run_store_stream(stream))
    # Handled at once, after "b": it reads the hours up to its own, so "b" does not count,
    # and then counts for what comes next.
    assert risks["late"] == StoreRisk((1, 1, 1), (0, 0, 0))
    assert risks["b"] == StoreRisk((1, 1, 1), (0, 0, 0))


def test_the_store_cell_round_trips_through_its_coder() -> None:
    cell = StoreCell(evaluated_through_ms=4, expiry_at_ms=9)
    cell.activity.add_transaction(1_000)
    coder = StoreCellCoder()

    decoded = coder.decode(coder.encode(cell))

    assert (decoded.evaluated_through_ms, decoded.expiry_at_ms) == (4, 9)
    assert decoded.buffer == []
    assert decoded.activity.risk(1_000) == cell.activity.risk(1_000)
    assert coder.is_deterministic()


def _detect_with_feedback(
    documents: list[dict[str, Any]],
    grouped: bool,
    changes: Sequence[BlacklistChange] = (),
    blacklist: Blacklist = NO_BLACKLIST,
) -> dict[str, Any]:
    events = [raw_record(d, n) for n, d in enumerate(documents) if "reported_at" not in d]
    reports = [
        beam.window.TimestampedValue(parsed, Timestamp(micros=parsed.reported_at_ms * 1000))
        for d in documents
        if "reported_at" in d and isinstance(parsed := parse_feedback(payload(d)), Feedback)
    ]
    stamped_changes = [
        beam.window.TimestampedValue(c, Timestamp(micros=c.effective_at_ms * 1000)) for c in changes
    ]
    name, collect = new_collector()
    with TestPipeline(runner=FN_API_RUNNER, options=PipelineOptions([])) as p:
        parsed = p | "Events" >> beam.Create(events) | ParseEvents(ZONE, 1 << 20, "t")
        inputs = {
            "events": parsed[EVENTS_TAG],
            "feedback": p | "Feedback" >> beam.Create(reports),
            "blacklist_changes": p | "Changes" >> beam.Create(stamped_changes),
        }
        detected = inputs | DetectFraud(RULES, ZONE, blacklist, "t", grouped=grouped)
        detected[SCORED_TAG] | beam.Map(collect)
    return {record["transaction_id"]: record for record in take(name)}


def test_a_skimmed_store_fires_fr007_once_its_frauds_are_reported_on_both_paths() -> None:
    documents = [event(f"p{n}", f"C{n}", at=timedelta(hours=n), store_id=STORE) for n in range(30)]
    # Ten of the first purchases reported as fraud, at hour 20
    documents += [
        feedback(f"p{n}", f"C{n}", at=timedelta(hours=20), store_id=STORE) for n in range(10)
    ]

    grouped = _detect_with_feedback(documents, grouped=True)
    stateful = _detect_with_feedback(documents, grouped=False)

    assert grouped == stateful
    fired = sorted(int(t[1:]) for t, r in grouped.items() if "FR-007" in r["rules_triggered"])
    assert fired == list(range(20, 30))
    evidence = grouped["p20"]["rule_details"]["FR-007"]
    assert (evidence["store_transactions"], evidence["store_frauds_reported"]) == (20, 10)
    assert grouped["p20"]["ml_features"]["store_fraud_rate_1d"] == 0.5
    assert grouped["p19"]["ml_features"]["store_frauds_1d"] == 0.0


def test_a_confirmed_fraud_marks_the_card_for_its_later_purchases_only() -> None:
    documents = [event(f"c{n}", "CARD", at=timedelta(days=n), store_id=f"S-{n}") for n in range(6)]
    documents.append(feedback("c0", "CARD", at=timedelta(days=2, hours=1), store_id="S-0"))

    scored = _detect_with_feedback(documents, grouped=True)

    marked = sorted(t for t, r in scored.items() if "FR-008" in r["rules_triggered"])
    assert marked == ["c3", "c4", "c5"]
    assert scored["c3"]["rule_details"]["FR-008"]["confirmed_transaction_id"] == "c0"
    assert _detect_with_feedback(documents, grouped=False) == scored


def test_blacklist_changes_apply_from_their_time_over_the_initial_list() -> None:
    day = 86_400_000
    start = int(T0.timestamp() * 1000)
    documents = [
        event(f"{who}-{n}", customer, at=timedelta(days=n), store_id=store)
        for who, customer, store in (
            ("lifted", "C-A", "S-LISTED"),
            ("listed", "C-B", "S-NEW"),
            ("person", "C-X", "S-PLAIN"),
        )
        for n in range(6)
    ]
    changes = [
        BlacklistChange("store", "S-LISTED", False, start + 2 * day),  # removed from day 2
        BlacklistChange("store", "S-NEW", True, start + 3 * day + 1),  # added just after day 3's
        BlacklistChange("customer", "C-X", True, start + 1 * day),  # at day 1's instant
        BlacklistChange("customer", "C-X", False, start + 4 * day),
    ]
    initial = Blacklist(stores=frozenset({"S-LISTED"}))

    grouped = _detect_with_feedback(documents, True, changes, initial)

    flagged = sorted(t for t, r in grouped.items() if "FR-005" in r["rules_triggered"])
    assert flagged == [
        "lifted-0",
        "lifted-1",
        "listed-4",
        "listed-5",
        "person-1",
        "person-2",
        "person-3",
    ]
    assert grouped["person-1"]["rule_details"]["FR-005"]["customer_blacklisted"] is True
    assert grouped["listed-4"]["rule_details"]["FR-005"]["store_blacklisted"] is True
    assert _detect_with_feedback(documents, False, changes, initial) == grouped


def test_the_streaming_store_fn_is_registered_with_its_state() -> None:
    assert StoreActivityFn.CELL.name == "store"


def _streamed_store(steps: list[list[Any] | float]) -> list[Any]:
    """The store step alone on a TestStream: documents (events, feedback) and changes arrive
    in the order of ``steps`` (a number moves the watermark, in seconds)."""
    from transforms.coders import encode_blacklist_change

    stream = TestStream()
    for step in steps:
        if isinstance(step, list):
            records = _store_records([d for d in step if not isinstance(d, BlacklistChange)])
            records += [
                (d.id, encode_blacklist_change(d)) for d in step if isinstance(d, BlacklistChange)
            ]
            stream = stream.add_elements(
                [beam.window.TimestampedValue(r, _time_of(r)) for r in records]
            )
        else:
            stream = stream.advance_watermark_to(step)
    stream = stream.advance_watermark_to_infinity()
    return _run_store_stream(stream)


def _store_flags(released: list[Any]) -> dict[str, bool]:
    flags = {}
    for _, encoded in released:
        transaction, hit, _ = decode_buffered(encoded)  # type: ignore[misc]
        flags[transaction.transaction_id] = hit.store
    return flags


def test_a_late_older_change_does_not_undo_a_newer_one() -> None:
    start = int(T0.timestamp() * 1000)
    hour = 3_600_000
    removed = BlacklistChange("store", STORE, False, start + 10 * hour)
    added_earlier = BlacklistChange("store", STORE, True, start + 9 * hour)
    before = event("before", "C1", at=timedelta(hours=9, minutes=30), store_id=STORE)
    after = event("after", "C2", at=timedelta(hours=12), store_id=STORE)
    released = _streamed_store(
        [
            [before],
            T0.timestamp() + 9.9 * 3600,
            [removed, after],
            T0.timestamp() + 11 * 3600,
            [added_earlier],  # late: the watermark passed its time long ago
        ],
    )
    flags = _store_flags(released)
    # "before" was released before the late add arrived; "after" waited behind the remove
    # and is judged after it: the store is off the list, and the late add cannot list it again.
    assert flags == {"before": False, "after": False}


def test_an_add_and_a_remove_at_one_instant_list_the_store_on_both_paths() -> None:
    start = int(T0.timestamp() * 1000)
    instant = start + 3_600_000
    changes = [
        BlacklistChange("store", STORE, True, instant),
        BlacklistChange("store", STORE, False, instant),
    ]
    purchase = event("p", "C1", at=timedelta(hours=2), store_id=STORE)
    for order in (changes, changes[::-1]):
        streamed = _streamed_store([[*order, purchase]])
        assert _store_flags(streamed) == {"p": True}
    grouped = _detect_with_feedback([purchase], True, changes)
    assert "FR-005" in grouped["p"]["rules_triggered"]
    assert _detect_with_feedback([purchase], True, changes[::-1]) == grouped


@pytest.mark.parametrize("late_action", ["add", "remove"])
def test_an_add_wins_over_a_remove_at_one_instant_even_when_one_arrives_late(
    late_action: str,
) -> None:
    start = int(T0.timestamp() * 1000)
    instant = start + 3_600_000
    add = BlacklistChange("store", STORE, True, instant)
    remove = BlacklistChange("store", STORE, False, instant)
    first, late = (remove, add) if late_action == "add" else (add, remove)
    purchase = event("p", "C1", at=timedelta(hours=5), store_id=STORE)

    released = _streamed_store(
        [[first], T0.timestamp() + 3 * 3600, [late], [purchase]],  # the second change is late
    )

    assert _store_flags(released) == {"p": True}


def test_a_withdrawn_fraud_stops_counting_for_its_store_on_both_paths() -> None:
    documents = [event(f"p{n}", f"C{n}", at=timedelta(hours=n), store_id=STORE) for n in range(30)]
    documents += [
        feedback(f"p{n}", f"C{n}", at=timedelta(hours=20), store_id=STORE) for n in range(10)
    ]
    # Six of the ten confirmations are withdrawn at hour 24: four frauds remain.
    documents += [
        feedback(f"p{n}", f"C{n}", at=timedelta(hours=24), store_id=STORE, label="genuine")
        for n in range(6)
    ]

    grouped = _detect_with_feedback(documents, grouped=True)

    assert _detect_with_feedback(documents, grouped=False) == grouped
    fired = sorted(int(t[1:]) for t, r in grouped.items() if "FR-007" in r["rules_triggered"])
    assert fired == [20, 21, 22, 23]  # from hour 24: 4 of 24 purchases, under the 20% rate
    assert grouped["p24"]["ml_features"]["store_frauds_1d"] == 4.0


def test_a_repeated_report_counts_the_same_whenever_the_store_forgot_the_first() -> None:
    # The first report has left every window by the repeat: on the stateful path the store
    # has forgotten it (pruned at a flush), on the grouped path not yet; both must count the
    # repeat as a new confirmation.
    documents = [
        feedback("a", "C0", at=timedelta(0), store_id=STORE),
        event("e1", "C1", at=timedelta(days=31), store_id=STORE),
        feedback("a", "C0", at=timedelta(days=35), store_id=STORE),
        event("x", "C2", at=timedelta(days=36), store_id=STORE),
    ]
    records = _store_records(documents)
    day = 86_400.0
    start = T0.timestamp()
    streamed = _risks(
        _streamed_store_records(
            [records[:1], start + 3600, records[1:2], start + 31 * day + 3600, records[2:]]
        )
    )

    assert streamed == _risks(_grouped(records))
    assert streamed["x"].frauds == (0, 1, 1)


def _streamed_store_records(steps: list[list[tuple[str, bytes]] | float]) -> list[Any]:
    stream = TestStream()
    for step in steps:
        if isinstance(step, list):
            stream = stream.add_elements(
                [beam.window.TimestampedValue(r, _time_of(r)) for r in step]
            )
        else:
            stream = stream.advance_watermark_to(step)
    return _run_store_stream(stream.advance_watermark_to_infinity())
