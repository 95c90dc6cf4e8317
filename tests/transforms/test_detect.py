"""DetectFraud on real Beam runners: batch on FnApiRunner, streaming with TestStream on the
BundleBasedDirectRunner (the only Python runner that executes TestStream)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.timestamp import Timestamp

from pipelines.options import FN_API_RUNNER
from tests.collect import new_collector, take
from tests.factories import MANAUS, RIO, T0, event, feedback, habitual_history, raw_record
from transforms.domain.blacklist import EMPTY_BLACKLIST, Blacklist
from transforms.domain.config import default_rules
from transforms.domain.event_time import parse_timestamp
from transforms.fraud_detection import DetectFraud
from transforms.parse import ParseEvents
from transforms.parse_controls import FEEDBACK_INPUT, ParseControls
from transforms.tags import ACCEPTED_TAG, DLQ_TAG, EVENTS_TAG, SCORED_TAG

RULES = default_rules()
ZONE = "America/Sao_Paulo"


# The customer step keyed by customer (0), and by shard: 2 shards put several customers of a
# test under one key, so one customer's progress must not make another's events late.
KEYINGS = pytest.mark.parametrize("shards", [0, 2], ids=["by-customer", "by-shard"])


def _detect(records: Any, blacklist: Blacklist = EMPTY_BLACKLIST, shards: int = 0) -> Any:
    """Parse and detect as ``pipelines.fraud`` wires them: the blacklist is a value. Streaming
    on the direct runner, the customer step runs alone (DetectFraud says why); the store step's
    streaming path is tested in tests/transforms/test_store_step.py."""
    streaming = bool(records.pipeline.options.view_as(StandardOptions).streaming)
    parsed = records | ParseEvents(ZONE, 1 << 20, "test")
    return parsed[EVENTS_TAG] | DetectFraud(
        RULES,
        ZONE,
        blacklist,
        "test",
        streaming=streaming,
        track_stores=not streaming,
        customer_shards=shards,
    )


def _verdicts(scored: Any) -> Any:
    return scored | "Verdicts" >> beam.Map(
        lambda r: (r["transaction_id"], tuple(r["rules_triggered"]), r["is_alert"])
    )


def _batch_pipeline() -> TestPipeline:
    return TestPipeline(runner=FN_API_RUNNER, options=PipelineOptions([]))


def _streaming_pipeline() -> TestPipeline:
    options = PipelineOptions([])
    options.view_as(StandardOptions).streaming = True
    return TestPipeline(runner="BundleBasedDirectRunner", options=options)


def _seconds(document: dict[str, Any]) -> float:
    return parse_timestamp(document["timestamp"], None) / 1000


def _timestamped(documents: list[dict[str, Any]]) -> list[Any]:
    return [beam.window.TimestampedValue(raw_record(d), _seconds(d)) for d in documents]


def _stream(*steps: list[dict[str, Any]] | float) -> TestStream:
    """Events arrive (a list) and the watermark advances (a number of seconds), in order."""
    stream = TestStream()
    for step in steps:
        if isinstance(step, list):
            stream = stream.add_elements(_timestamped(step))
        else:
            stream = stream.advance_watermark_to(step)
    return stream.advance_watermark_to_infinity()


def _streamed_verdicts(
    stream: TestStream, shards: int = 0
) -> list[tuple[str, tuple[str, ...], bool]]:
    # Collected rather than asserted: assert_that's end-of-window pane misses what timers emit
    # once the watermark is at +inf.
    name, collect = new_collector()
    with _streaming_pipeline() as p:
        _verdicts(_detect(p | stream, shards=shards)[SCORED_TAG]) | beam.Map(collect)
    return sorted(take(name))


def test_batch_scores_a_hand_written_stream_in_event_time_order() -> None:
    history = habitual_history("C1")
    frauds = [
        event("big", "C1", at=timedelta(days=6), amount="900.00"),
        # 40 minutes after the big purchase, 2,700 km away
        event("far", "C1", at=timedelta(days=6, minutes=40), where=MANAUS),
        event("banned", "C2", store_id="S-BAD"),
    ]
    arrival = list(reversed(history + frauds))  # worst case: newest first
    with _batch_pipeline() as p:
        records = p | beam.Create([raw_record(doc) for doc in arrival])
        detected = _detect(records, Blacklist(stores=frozenset({"S-BAD"})))
        assert_that(
            _verdicts(detected[SCORED_TAG]),
            equal_to(
                [(doc["transaction_id"], (), False) for doc in history]
                + [
                    ("big", ("FR-001",), True),
                    ("far", ("FR-003",), True),
                    ("banned", ("FR-005",), True),
                ]
            ),
        )
        assert_that(detected[DLQ_TAG], equal_to([]), label="NoProcessingErrors")


def test_velocity_burst_fires_from_the_sixth_event_in_ten_minutes() -> None:
    burst = [event(f"b{i}", "C9", at=timedelta(seconds=15 * i)) for i in range(8)]
    random.Random(7).shuffle(burst)
    with _batch_pipeline() as p:
        scored = _detect(p | beam.Create([raw_record(doc) for doc in burst]))[SCORED_TAG]
        assert_that(
            scored
            | beam.Map(
                lambda r: (r["transaction_id"], r["rule_details"].get("FR-002", {}).get("score"))
            ),
            equal_to([(f"b{i}", None) for i in range(5)] + [("b5", 0.2), ("b6", 0.4), ("b7", 0.6)]),
        )


def _segments_stream(segments: list[list[dict[str, Any]]]) -> TestStream:
    """Each segment's events arrive (in the given order), then the watermark passes them."""
    steps: list[list[dict[str, Any]] | float] = []
    for segment in segments:
        steps += [segment, max(_seconds(doc) for doc in segment) + 1]
    return _stream(*steps)


def _scores(scored: Any) -> Any:
    return scored | "Scores" >> beam.Map(
        lambda r: (r["transaction_id"], r["fraud_score"], tuple(r["rules_triggered"]))
    )


def _mixed_day(customer: str, day: int) -> list[dict[str, Any]]:
    base = timedelta(days=day)
    return [
        event(f"{customer}-d{day}-a", customer, at=base, amount="40.00"),
        event(f"{customer}-d{day}-b", customer, at=base + timedelta(hours=2), amount="55.00"),
        event(
            f"{customer}-d{day}-c",
            customer,
            at=base + timedelta(hours=2, minutes=30),
            amount="700.00" if day == 7 else "45.00",
            where=RIO if day == 8 else None,
        ),
    ]


@KEYINGS
def test_out_of_order_arrival_gives_the_same_scores_as_in_order(shards: int) -> None:
    days = [[*_mixed_day("A", d), *_mixed_day("B", d)] for d in range(10)]
    in_order = [sorted(day, key=_seconds) for day in days]
    shuffled = [random.Random(d).sample(day, len(day)) for d, day in enumerate(days)]

    def run(segments: list[list[dict[str, Any]]]) -> list[tuple[str, float, tuple[str, ...]]]:
        name, collect = new_collector()
        with _streaming_pipeline() as p:
            scored = _detect(p | _segments_stream(segments), shards=shards)[SCORED_TAG]
            _scores(scored) | beam.Map(collect)
        return sorted(take(name))

    ordered_scores = run(in_order)
    assert len(ordered_scores) == 60
    assert run(shuffled) == ordered_scores
    # and the ordering mattered: the high-value event on day 7 is judged on history
    assert ("A-d7-c", 0.9, ("FR-001",)) in ordered_scores


@KEYINGS
def test_a_late_event_is_judged_on_the_events_of_its_own_window(shards: int) -> None:
    burst = [event(f"v{i}", "C5", at=timedelta(minutes=i)) for i in range(5)]
    # Arrives after the watermark has passed it by an hour: scored late, on the history as it
    # stands, which still holds the five burst events of its 10-minute window (no newer event
    # has trimmed the window). A bounded run of the same events judges it the same way.
    late = event("late", "C5", at=timedelta(minutes=5, seconds=30))
    streamed = _streamed_verdicts(_stream(burst, _seconds(burst[-1]) + 3600, [late]), shards)
    (late_verdict,) = [v for v in streamed if v[0] == "late"]
    assert "FR-002" in late_verdict[1]
    name, collect = new_collector()
    with _batch_pipeline() as p:
        records = p | beam.Create([raw_record(d) for d in [*burst, late]])
        _verdicts(_detect(records)[SCORED_TAG]) | beam.Map(collect)
    assert sorted(take(name)) == streamed


def _expiry_run(idle: timedelta, shards: int) -> list[tuple[str, tuple[str, ...], bool]]:
    history = habitual_history("C7")
    comeback = event("comeback", "C7", at=timedelta(days=5) + idle, amount="5000.00")
    return _streamed_verdicts(_stream(history, _seconds(comeback) - 1, [comeback]), shards)


@KEYINGS
def test_a_comeback_after_the_inactivity_period_is_judged_without_history(shards: int) -> None:
    # The domain forgets history older than the inactivity period when it judges, so a
    # backfill and a stream agree. The timer's deletion of the state is proven by
    # test_the_expiry_timer_leaves_no_state_for_an_idle_customer.
    assert ("comeback", (), False) in _expiry_run(timedelta(days=RULES.inactivity_days + 1), shards)


@KEYINGS
def test_customer_history_survives_shorter_inactivity(shards: int) -> None:
    assert ("comeback", ("FR-001",), True) in _expiry_run(
        timedelta(days=RULES.inactivity_days - 1), shards
    )


@KEYINGS
def test_the_expiry_timer_leaves_no_state_for_an_idle_customer(shards: int) -> None:
    history = habitual_history("C2")
    # Older than the customer's last scored event, and arriving after the watermark has passed
    # the expiry time. Had any state survived, the event would be late (the bookkeeping says
    # the customer was scored past it) and judged on the kept history: FR-001 on 5000 vs 50.
    old = event("old", "C2", at=timedelta(days=3, hours=1), amount="5000.00")
    last = _seconds(history[-1])
    stream = _stream(history, last + (RULES.inactivity_days + 5) * 86_400, [old])
    assert ("old", (), False) in _streamed_verdicts(stream, shards)


@pytest.mark.parametrize("arrival", ["in_order", "reversed"])
def test_the_blacklist_verdict_reaches_buffered_events(arrival: str) -> None:
    docs = [event(f"x{i}", "BAD", at=timedelta(hours=i)) for i in range(3)]
    if arrival == "reversed":
        docs.reverse()
    with _batch_pipeline() as p:
        scored = _detect(
            p | beam.Create([raw_record(d) for d in docs]),
            Blacklist(customers=frozenset({"BAD"})),
        )[SCORED_TAG]
        assert_that(_verdicts(scored), equal_to([(f"x{i}", ("FR-005",), True) for i in range(3)]))


def test_event_timestamps_come_from_event_time() -> None:
    doc = event("t1", at=T0)
    with _batch_pipeline() as p:
        parsed = p | beam.Create([raw_record(doc)]) | ParseEvents(ZONE, 1 << 20, "test")
        stamps = parsed[EVENTS_TAG] | beam.Map(
            lambda e, ts=beam.DoFn.TimestampParam: (e.transaction_id, ts)
        )
        assert_that(stamps, equal_to([("t1", Timestamp(seconds=T0.timestamp()))]))


_NOW, _FUTURE = event("now", "C3"), event("future", "C3", at=timedelta(days=30))
_SOON = event("soon", "C3", at=timedelta(minutes=10))


@pytest.mark.parametrize(
    "stream",
    [
        # "soon" arrives after the first flush, which then waits for nothing
        _stream([_NOW, _FUTURE], _seconds(_NOW) + 1, [_SOON], _seconds(_SOON) + 60),
        # all three wait together: the flush after "now" re-arms at the earliest left
        _stream([_NOW, _SOON, _FUTURE], _seconds(_NOW) + 1, _seconds(_SOON) + 60),
    ],
    ids=["soon-arrives-later", "all-wait-together"],
)
def test_a_far_future_event_does_not_hold_back_the_customers_other_events(
    stream: TestStream,
) -> None:
    now, soon, future = _NOW, _SOON, _FUTURE
    name, collect = new_collector()
    with _streaming_pipeline() as p:
        scored = _detect(p | stream)[SCORED_TAG]
        # Output timestamps are the flush times: "soon" is emitted as soon as the watermark
        # passes it, not when it reaches the 30-days-ahead event. (Collected, not asserted:
        # assert_that's end-of-window pane drops what timers emit once the watermark is at +inf.)
        (
            scored
            | beam.Map(
                lambda r, ts=beam.DoFn.TimestampParam: (r["transaction_id"], ts.micros // 1000)
            )
            | beam.Map(collect)
        )
    assert sorted(take(name), key=lambda item: item[1]) == [
        ("now", int(_seconds(now) * 1000) + 1),
        ("soon", int(_seconds(soon) * 1000) + 1),
        ("future", int(_seconds(future) * 1000) + 1),
    ]


@KEYINGS
def test_expiry_while_events_wait_in_the_buffer_scores_them_on_the_kept_history(
    shards: int,
) -> None:
    history = habitual_history("C8")
    later = event("later", "C8", at=timedelta(days=5 + 91), amount="5000.00")
    last = _seconds(history[-1])
    stream = _stream(history, last + 1, [later], last + (RULES.inactivity_days + 0.5) * 86_400)
    # 91 idle days: the domain forgets the history, so the big amount has nothing to beat.
    assert _streamed_verdicts(stream, shards) == sorted(
        [(d["transaction_id"], (), False) for d in history] + [("later", (), False)]
    )


@KEYINGS
def test_an_event_exactly_at_the_watermark_is_on_time(shards: int) -> None:
    burst = [event(f"p{i}", "C4", at=timedelta(seconds=10 * i)) for i in range(5)]
    tie_a = event("a", "C4", at=timedelta(seconds=60))
    tie_z = event("z", "C4", at=timedelta(seconds=60))
    stream = _stream([*burst, tie_z], _seconds(tie_z), [tie_a])
    name, collect = new_collector()
    with _streaming_pipeline() as p:
        _scores(_detect(p | stream, shards=shards)[SCORED_TAG]) | beam.Map(collect)
    streamed = sorted(take(name))
    with _batch_pipeline() as p:
        docs = [*burst, tie_z, tie_a]
        name, collect = new_collector()
        _scores(_detect(p | beam.Create([raw_record(d) for d in docs]))[SCORED_TAG]) | beam.Map(
            collect
        )
    assert streamed == sorted(take(name))


def _verdicts_with_feedback(stream: TestStream, shards: int) -> list[tuple[str, ...]]:
    """Events and feedback from one stream of ``(kind, raw record)``, through the customer step
    alone, streaming."""
    options = PipelineOptions([])
    options.view_as(StandardOptions).streaming = True
    name, collect = new_collector()
    with TestPipeline(runner="BundleBasedDirectRunner", options=options) as p:
        records = p | stream
        events = records | "Events" >> beam.FlatMap(lambda r: [r[1]] if r[0] == "event" else [])
        reports = records | "Reports" >> beam.FlatMap(lambda r: [r[1]] if r[0] == "fb" else [])
        parsed = events | ParseEvents(ZONE, 1 << 20, "test")
        feedback = reports | ParseControls(FEEDBACK_INPUT, 1 << 20, "test")
        inputs = {"events": parsed[EVENTS_TAG], "feedback": feedback[ACCEPTED_TAG]}
        detected = inputs | DetectFraud(
            RULES,
            ZONE,
            EMPTY_BLACKLIST,
            "test",
            streaming=True,
            track_stores=False,
            customer_shards=shards,
        )
        _verdicts(detected[SCORED_TAG]) | beam.Map(collect)
    return sorted(take(name))


@KEYINGS
def test_a_confirmed_compromise_outlives_the_inactivity_expiry(shards: int) -> None:
    # Last event on day 0; a chargeback on day 85; the next purchase on day 100, after the
    # 90-day expiry has fired: the compromise (active 30 days) must still mark it (FR-008).
    first = event("first", "C9")
    chargeback = feedback("first", "C9", at=timedelta(days=85))
    comeback = event("comeback", "C9", at=timedelta(days=100))
    day = 86_400

    def stamped(kind: str, document: dict[str, Any], seconds: float) -> Any:
        return beam.window.TimestampedValue((kind, raw_record(document)), seconds)

    start = T0.timestamp()
    stream = (
        TestStream()
        .add_elements([stamped("event", first, start)])
        .advance_watermark_to(start + 80 * day)
        .add_elements([stamped("fb", chargeback, start + 85 * day)])
        .advance_watermark_to(start + 95 * day)  # past the 90-day expiry
        .add_elements([stamped("event", comeback, start + 100 * day)])
        .advance_watermark_to_infinity()
    )
    streamed = _verdicts_with_feedback(stream, shards)
    assert ("comeback", ("FR-008",), False) in streamed
    # The grouped path of a bounded run agrees.
    name, collect = new_collector()
    with TestPipeline(runner=FN_API_RUNNER, options=PipelineOptions([])) as p:
        parsed = p | "Events" >> beam.Create([raw_record(first), raw_record(comeback)])
        parsed = parsed | ParseEvents(ZONE, 1 << 20, "test")
        reports = p | "Reports" >> beam.Create([raw_record(chargeback)])
        controls = reports | ParseControls(FEEDBACK_INPUT, 1 << 20, "test")
        inputs = {"events": parsed[EVENTS_TAG], "feedback": controls[ACCEPTED_TAG]}
        detected = inputs | DetectFraud(RULES, ZONE, EMPTY_BLACKLIST, "test")
        _verdicts(detected[SCORED_TAG]) | beam.Map(collect)
    assert sorted(take(name)) == streamed
