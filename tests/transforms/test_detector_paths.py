"""The two detector paths agree record for record on a bounded input.

The stateful path (state, buffer, event-time timers: streaming) and the grouped path (group by
customer and sort: bounded runs) order events differently but must judge them identically:
shuffled arrival, ties in event time, events far older than the rest of their customer's
history, gaps longer than the inactivity period, and a scoring failure in the middle of a
history all give the same scored and DLQ records.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from pipelines.options import FN_API_RUNNER
from pipelines.synthetic.dataset import GeneratorConfig, generate_events
from tests.collect import new_collector, take
from tests.factories import MANAUS, event, habitual_history, raw_record
from transforms.domain.blacklist import Blacklist
from transforms.domain.config import default_rules
from transforms.domain.detector import FraudDetector
from transforms.domain.event_time import parse_timestamp
from transforms.fraud_detection import DetectFraud
from transforms.parse import ParseEvents
from transforms.tags import DLQ_TAG, EVENTS_TAG, SCORED_TAG

RULES = default_rules()
ZONE = "America/Sao_Paulo"
BLACKLIST = Blacklist(customers=frozenset({"TIE"}), stores=frozenset({"S-BAD"}))


def _hand_written_cases() -> list[dict[str, Any]]:
    history = habitual_history("EDGE")
    ties = [  # same instant: judged by transaction id, on every path
        event(f"tie-{name}", "TIE", at=timedelta(days=2), amount=amount)
        for name, amount in (("b", "900.00"), ("a", "40.00"), ("c", "41.00"))
    ]
    burst = [event(f"burst-{i}", "EDGE", at=timedelta(days=6, seconds=20 * i)) for i in range(8)]
    return [
        *history,
        *ties,
        *burst,
        # looks late: long before the rest of its customer's history
        event("late-looking", "EDGE", at=timedelta(days=-30), amount="700.00"),
        event("far", "EDGE", at=timedelta(days=6, minutes=40), where=MANAUS),
        # a comeback after the inactivity period: judged on no history
        event("comeback", "EDGE", at=timedelta(days=6 + RULES.inactivity_days + 1), amount="5000"),
        event("banned", "EDGE", store_id="S-BAD", at=timedelta(days=3)),
        event("boom", "EDGE", at=timedelta(days=4)),
    ]


def _inputs(seed: int) -> list[tuple[str, bytes]]:
    dataset = generate_events(GeneratorConfig(seed=seed, customers=40, days=20))
    records = [raw_record(line, number) for number, line in enumerate(dataset.lines)]
    records += [raw_record(doc, 10_000 + n) for n, doc in enumerate(_hand_written_cases())]
    random.Random(seed).shuffle(records)
    return records


_real_judge = FraudDetector.judge


def _judge_failing_on_boom(
    self: FraudDetector, profile: Any, event: Any, hit: Any, risk: Any
) -> Any:
    if event.transaction_id == "boom":
        raise RuntimeError("injected scoring failure")
    return _real_judge(self, profile, event, hit, risk)


def _run(
    records: list[tuple[str, bytes]], grouped: bool, shards: int = 0
) -> dict[str, list[dict[str, Any]]]:
    scored_name, collect_scored = new_collector()
    dlq_name, collect_dlq = new_collector()
    with TestPipeline(runner=FN_API_RUNNER, options=PipelineOptions([])) as p:
        parsed = p | beam.Create(records) | ParseEvents(ZONE, 1 << 20, "test")
        detected = parsed[EVENTS_TAG] | DetectFraud(
            RULES, ZONE, BLACKLIST, "test", grouped=grouped, customer_shards=shards
        )
        detected[SCORED_TAG] | "CollectScored" >> beam.Map(collect_scored)
        detected[DLQ_TAG] | "CollectDlq" >> beam.Map(collect_dlq)
    dlq = [{k: v for k, v in r.items() if k != "received_at"} for r in take(dlq_name)]
    return {
        "scored": sorted(take(scored_name), key=lambda r: r["transaction_id"]),
        "dlq": sorted(dlq, key=lambda r: r["source"]),
    }


@pytest.mark.parametrize(("seed", "shards"), [(3, 0), (11, 0), (3, 4)])
def test_grouped_and_stateful_paths_give_identical_records(
    seed: int, shards: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FraudDetector, "judge", _judge_failing_on_boom)
    records = _inputs(seed)
    stateful = _run(records, grouped=False, shards=shards)
    grouped = _run(records, grouped=True)

    assert grouped == stateful
    scored = {r["transaction_id"]: r for r in stateful["scored"]}
    # every hand-written edge was exercised, not silently skipped
    assert scored["tie-b"]["rules_triggered"] == ["FR-005"]
    assert "FR-002" in scored["burst-7"]["rules_triggered"]
    assert "FR-003" in scored["far"]["rules_triggered"]
    assert scored["comeback"]["rules_triggered"] == []
    assert [r["source"] for r in stateful["dlq"] if r["stage"] == "detect"] == ["transaction:boom"]
    assert len(scored) > 500


def test_grouped_path_stamps_records_at_their_event_time() -> None:
    docs = [event("one", "C1"), event("two", "C1", at=timedelta(hours=1))]
    name, collect = new_collector()
    with TestPipeline(runner=FN_API_RUNNER, options=PipelineOptions([])) as p:
        parsed = p | beam.Create([raw_record(d) for d in docs]) | ParseEvents(ZONE, 1 << 20, "t")
        scored = parsed[EVENTS_TAG] | DetectFraud(RULES, ZONE, BLACKLIST, "t", grouped=True)
        _ = (
            scored[SCORED_TAG]
            | beam.Map(lambda r, ts=beam.DoFn.TimestampParam: (r["transaction_id"], ts.micros))
            | beam.Map(collect)
        )
    first = int(parse_timestamp(docs[0]["timestamp"], None)) * 1000
    assert sorted(take(name)) == [("one", first + 1000), ("two", first + 3600 * 10**6 + 1000)]


@pytest.mark.parametrize("shards", [0, 3])
def test_a_customer_whose_only_event_failed_still_expires(
    shards: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing was learned, so the profile has no last event: expiry must be armed from the
    # scored-through time, or the cell would stay in state forever.
    monkeypatch.setattr(FraudDetector, "judge", _judge_failing_on_boom)
    pipeline = TestPipeline(runner=FN_API_RUNNER, options=PipelineOptions([]))
    parsed = (
        pipeline
        | beam.Create([raw_record(event("boom", "LONE"))])
        | ParseEvents(ZONE, 1 << 20, "test")
    )
    detected = parsed[EVENTS_TAG] | DetectFraud(
        RULES, ZONE, BLACKLIST, "test", grouped=False, customer_shards=shards
    )
    name, collect = new_collector()
    detected[DLQ_TAG] | beam.Map(lambda r: r["source"]) | beam.Map(collect)
    result = pipeline.run()
    result.wait_until_finish()
    assert take(name) == ["transaction:boom"]
    expired = result.metrics().query(MetricsFilter().with_name("customers_expired"))["counters"]
    assert sum(counter.committed for counter in expired) == 1
