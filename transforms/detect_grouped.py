"""The bounded detector path: group by customer, sort by event order, score; no state or timers.

On a bounded input every event of a customer is known before any is scored, so the watermark
machinery of :mod:`transforms.detect` (buffer, flush and expiry timers) only costs: on Flink's
batch translation each stateful key is one SDK bundle plus more for its timers. A
``GroupByKey`` instead hands the Python worker whole groups in large bundles, and the loop is
the same :class:`~transforms.customer_scoring.CustomerScorer`, so the records are identical.

Memory: a customer's whole history is one group, decoded and sorted in one worker (about
1 KB per event: ~1 GB for a million events of one card). The ``customer_history_events``
distribution reports the largest group of a run; a customer far above what a worker can hold
must run on the stateful path (``--detector_mode=stateful``), whose state holds only the
profile and the not-yet-scored events.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from transforms.coders import buffered_order, decode_buffered
from transforms.counters import NAMESPACE
from transforms.customer_scoring import CustomerScorer
from transforms.domain.scoring_registry import ScoringRegistry
from transforms.domain.state import CustomerProfile
from transforms.tags import SCORED_TAG

HISTORY_EVENTS = "customer_history_events"


class ScoreCustomerHistoryFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self, rules: ScoringRegistry, timezone_name: str, pipeline_version: str) -> None:
        self._rules = rules
        self._timezone_name = timezone_name
        self._pipeline_version = pipeline_version
        self._history_events = Metrics.distribution(NAMESPACE, HISTORY_EVENTS)

    def setup(self) -> None:
        self._scorer = CustomerScorer(self._rules, self._timezone_name, self._pipeline_version)

    def process(self, element: tuple[str, Iterable[bytes]]) -> Iterator[Any]:
        events = [decode_buffered(encoded) for encoded in sorted(element[1], key=buffered_order)]
        self._history_events.update(len(events))
        for tag, event, record in self._scorer.score_in_order(CustomerProfile(), events):
            # Stamped 1 ms after the event, as a streaming flush releases an event on its own:
            # windowed steps downstream see the event's time, not the end of the global window.
            stamped = TimestampedValue(record, Timestamp(micros=(event.event_time_ms + 1) * 1000))
            yield stamped if tag == SCORED_TAG else beam.pvalue.TaggedOutput(tag, stamped)
