"""Rules versions effective by event time, on Beam's runners.

A run over a registry with a change at T gives, record for record, the base's records before T
and the new version's from T on, on the grouped and the stateful path. On the streaming path a
version told while the job runs (as the live job reads ``--rules_topic``) gives the same records
as the registry given up front, provided it arrives before the watermark passes T; one that
arrives later is counted, and what was scored before it keeps the version it was scored by.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream

from pipelines.options import FN_API_RUNNER
from pipelines.synthetic.dataset import GeneratorConfig, generate_events
from tests.collect import new_collector, take
from tests.factories import T0, event, habitual_history, raw_record
from transforms.counters import NAMESPACE, RULES_CHANGES_LATE, RULES_CHANGES_LEARNED
from transforms.domain.blacklist import EMPTY_BLACKLIST
from transforms.domain.config import default_rules
from transforms.domain.event_time import parse_timestamp
from transforms.domain.rules_registry import (
    RulesChange,
    RulesRegistry,
    encode_rules_change,
    new_rules_change,
)
from transforms.domain.scoring_registry import ScoringRegistry
from transforms.fraud_detection import DetectFraud
from transforms.parse import ParseEvents
from transforms.parse_controls import ParseControls, rules_changes_input
from transforms.tags import ACCEPTED_TAG, EVENTS_TAG, SCORED_TAG

ZONE = "America/Sao_Paulo"
BASE = default_rules()
# Looser high-value rule and a lower alert threshold: many records change from T on.
LOOSER = "alert_threshold: 0.5\nrules:\n  FR-001:\n    multiplier: 1.5\n    min_transactions: 3\n"


def _change(text: str, at_ms: int) -> RulesChange:
    return new_rules_change(text, at_ms, at_ms - 3_600_000, "ana", "looser high value")


def _scored(
    records: list[tuple[str, bytes]], rules: Any, grouped: bool, shards: int = 0
) -> list[dict[str, Any]]:
    name, collect = new_collector()
    with TestPipeline(runner=FN_API_RUNNER, options=PipelineOptions([])) as p:
        parsed = p | beam.Create(records) | ParseEvents(ZONE, 1 << 20, "test")
        detected = parsed[EVENTS_TAG] | DetectFraud(
            rules, ZONE, EMPTY_BLACKLIST, "test", grouped=grouped, customer_shards=shards
        )
        detected[SCORED_TAG] | beam.Map(collect)
    return sorted(take(name), key=lambda r: r["transaction_id"])


def _time(record: dict[str, Any]) -> int:
    return parse_timestamp(record["event_time"], None)


@pytest.mark.parametrize(("grouped", "shards"), [(True, 0), (False, 0), (False, 4)])
def test_a_change_at_t_gives_the_base_records_before_t_and_the_new_ones_after(
    grouped: bool, shards: int
) -> None:
    dataset = generate_events(GeneratorConfig(seed=5, customers=40, days=20))
    records = [raw_record(line, number) for number, line in enumerate(dataset.lines)]
    random.Random(5).shuffle(records)
    base_run = _scored(records, BASE, grouped, shards)
    times = sorted(_time(r) for r in base_run)
    at = times[len(times) // 2]
    change = _change(LOOSER, at)

    registry_run = _scored(records, RulesRegistry(BASE, (change,)), grouped, shards)
    looser_run = _scored(records, change.rules, grouped, shards)

    split = [r for r in base_run if _time(r) < at] + [r for r in looser_run if _time(r) >= at]
    assert registry_run == sorted(split, key=lambda r: r["transaction_id"])
    after = [r for r in registry_run if _time(r) >= at]
    assert {r["rules_version"] for r in after} == {change.rules_version}
    assert {r["rules_version"] for r in registry_run if _time(r) < at} == {BASE.rules_version}
    # The change matters: the same events after T are judged otherwise by the base.
    changed = sum(
        1
        for new, old in zip(after, (r for r in base_run if _time(r) >= at), strict=True)
        if new["is_alert"] != old["is_alert"]
    )
    assert changed > 0


# --- the streaming path: versions told while the job runs ------------------------------------

AT = T0 + timedelta(days=7, hours=12)
AT_MS = int(AT.timestamp() * 1000)
CUSTOMERS = ("C1", "C2", "C3")


def _events(day: int) -> list[dict[str, Any]]:
    # 2.4 times the usual 50.00: high value for the looser rule only.
    return [event(f"{c}-d{day}", c, at=timedelta(days=day), amount="120.00") for c in CUSTOMERS]


def _history() -> list[dict[str, Any]]:
    return [e for c in CUSTOMERS for e in habitual_history(c)]


def _timestamped(kind: str, documents: list[dict[str, Any]]) -> list[Any]:
    return [
        beam.window.TimestampedValue(
            (kind, raw_record(d)), parse_timestamp(d["timestamp"], None) / 1000
        )
        for d in documents
    ]


def _told(change: RulesChange) -> list[Any]:
    payload = ("test:rules", encode_rules_change(change))
    return [beam.window.TimestampedValue(("rules", payload), change.registered_at_ms / 1000)]


def _streamed(stream: TestStream, registry: RulesRegistry) -> list[Any]:
    options = PipelineOptions([])
    options.view_as(StandardOptions).streaming = True
    name, collect = new_collector()
    p = TestPipeline(runner="BundleBasedDirectRunner", options=options)
    raw = p | stream
    events = (
        raw | "Events" >> beam.Filter(lambda r: r[0] == "event") | "E" >> beam.Map(lambda r: r[1])
    )
    told = raw | "Rules" >> beam.Filter(lambda r: r[0] == "rules") | "R" >> beam.Map(lambda r: r[1])
    parsed = events | ParseEvents(ZONE, 1 << 20, "test")
    changes = told | ParseControls(rules_changes_input(BASE), 1 << 20, "test")
    detected = {"events": parsed[EVENTS_TAG], "rules_changes": changes[ACCEPTED_TAG]} | DetectFraud(
        registry,
        ZONE,
        EMPTY_BLACKLIST,
        "test",
        streaming=True,
        track_stores=False,
        customer_shards=2,
    )
    (
        detected[SCORED_TAG]
        | beam.Map(lambda r: (r["transaction_id"], tuple(r["rules_triggered"]), r["rules_version"]))
        | beam.Map(collect)
    )
    p.run().wait_until_finish()  # (this runner reports no counters of stateful steps)
    return sorted(take(name))


def _seconds(days: float) -> float:
    return (T0 + timedelta(days=days)).timestamp()


def test_a_version_told_before_its_time_scores_as_the_registry_given_up_front() -> None:
    change = _change(LOOSER, AT_MS)
    stream = (
        TestStream()
        .add_elements(_timestamped("event", _history() + _events(7)))
        .advance_watermark_to(_seconds(6.5))
        .add_elements(_told(change))
        .add_elements(_timestamped("event", _events(8)))
        .advance_watermark_to_infinity()
    )
    told = _streamed(stream, RulesRegistry(BASE))
    given = _streamed(
        TestStream()
        .add_elements(_timestamped("event", _history() + _events(7) + _events(8)))
        .advance_watermark_to_infinity(),
        RulesRegistry(BASE, (change,)),
    )
    assert told == given
    by_id = {transaction_id: (rules, version) for transaction_id, rules, version in told}
    for customer in CUSTOMERS:
        assert by_id[f"{customer}-d7"] == ((), BASE.rules_version)
        assert by_id[f"{customer}-d8"] == (("FR-001",), change.rules_version)


def test_a_version_told_after_the_watermark_passed_its_time_is_counted_late() -> None:
    change = _change(LOOSER, AT_MS)
    stream = (
        TestStream()
        .add_elements(_timestamped("event", _history() + _events(7) + _events(8)))
        .advance_watermark_to(_seconds(9))
        .add_elements(_told(change))
        .add_elements(_timestamped("event", _events(10)))
        .advance_watermark_to_infinity()
    )
    told = _streamed(stream, RulesRegistry(BASE))
    by_id = {transaction_id: version for transaction_id, _, version in told}
    for customer in CUSTOMERS:
        assert by_id[f"{customer}-d8"] == BASE.rules_version  # scored before it arrived
        assert by_id[f"{customer}-d10"] == change.rules_version


def test_each_shard_learns_a_told_version_once_and_counts_it() -> None:
    """In a batch run every element reaches the step before its timers fire: learned, never
    late. A version told twice (a re-read of the topic) is learned once."""
    change = _change(LOOSER, AT_MS)
    records = [raw_record(d) for d in _history() + _events(7) + _events(8)]
    told = [("test:rules", encode_rules_change(change))] * 2
    name, collect = new_collector()
    p = TestPipeline(runner=FN_API_RUNNER, options=PipelineOptions([]))
    parsed = p | "Events" >> beam.Create(records) | ParseEvents(ZONE, 1 << 20, "test")
    changes = (
        p | "Told" >> beam.Create(told) | ParseControls(rules_changes_input(BASE), 1 << 20, "test")
    )
    detected = {
        "events": parsed[EVENTS_TAG],
        "rules_changes": changes[ACCEPTED_TAG],
    } | DetectFraud(BASE, ZONE, EMPTY_BLACKLIST, "test", grouped=False, customer_shards=3)
    (
        detected[SCORED_TAG]
        | beam.Map(lambda r: (r["transaction_id"], r["rules_version"]))
        | beam.Map(collect)
    )
    result = p.run()
    result.wait_until_finish()
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    }
    assert counters[RULES_CHANGES_LEARNED] == 3  # once per shard
    assert RULES_CHANGES_LATE not in counters
    versions = dict(take(name))
    assert {versions[f"{c}-d8"] for c in CUSTOMERS} == {change.rules_version}
    assert {versions[f"{c}-d7"] for c in CUSTOMERS} == {BASE.rules_version}


def test_a_told_version_needs_customer_shards() -> None:
    p = TestPipeline(runner=FN_API_RUNNER, options=PipelineOptions([]))
    events = (
        p
        | "Events" >> beam.Create([raw_record(_history()[0])])
        | ParseEvents(ZONE, 1 << 20, "test")
    )
    told = p | "Told" >> beam.Create([])
    with pytest.raises(ValueError, match="customer shards"):
        _ = {"events": events[EVENTS_TAG], "rules_changes": told} | DetectFraud(
            BASE, ZONE, EMPTY_BLACKLIST, "test", grouped=True
        )


def test_a_kept_version_that_no_longer_fits_is_skipped_never_raised() -> None:
    """A shard's bag may hold a version told under another --rules (a redeploy since): the
    registry is built without it, and the customers' records are still scored."""
    from transforms.coders import encode_buffered_rules_change
    from transforms.detect import CustomerHandler

    handler = CustomerHandler(ScoringRegistry.of(BASE), ZONE, "test")
    handler.setup()
    incompatible = _change("inactivity_days: 10\n", AT_MS)
    fitting = _change(LOOSER, AT_MS + 1)
    told = [
        encode_buffered_rules_change(incompatible),
        b"\x40" + bytes(8) + b"not json",
        encode_buffered_rules_change(fitting),
    ]
    handler.share(told)
    registry = handler._scorer.registry
    assert [c.rules_version for c in registry.changes] == [fitting.rules_version]
    told.append(encode_buffered_rules_change(_change(LOOSER, AT_MS + 2)))
    handler.share(told)  # the same list, grown: the new entry alone is learnt
    assert handler._scorer.registry is registry
    assert len(registry.changes) == 2
