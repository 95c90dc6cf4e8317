"""DetectFraud: per-customer state, event-time ordering and the rules, in one stateful DoFn.

This is the streaming path. A bounded run scores each customer's grouped history instead
(:mod:`transforms.detect_grouped`); :class:`DetectFraud` picks one, and both run the loop of
:mod:`transforms.customer_scoring`.

Beam does not order the elements of a key, yet the rules depend on order (a customer's history
*before* each event). So events wait in a buffer until the watermark passes them, and are then
scored in event-time order: a backfill and a streaming run of the same data, in any arrival
order, give the same scores. An event that arrives after its customer's history has moved past
it (a late event) is scored at once against the current history and counted.

State per customer: one ``ReadModifyWriteState`` cell holding the packed profile, the events
waiting for the watermark and the ordering bookkeeping. One cell, because the SDK harness pays
per state cell touched, and written whole, because its cache then keeps it between bundles (an
appended-to ``BagState`` is read back from the runner; ``OrderedListState`` does not run on
portable Flink). Timers:

* ``flush`` (event time): scores buffered events the watermark has passed;
* ``expiry`` (event time): clears the customer after ``inactivity_days`` without events, since
  Beam state has no TTL. It is set once and re-arms itself when it finds the customer active
  since, instead of being moved at every flush: each timer set is a round trip to the runner.

Timer times are always computed from state, never from the current element: setting a timer
again replaces the pending one. A late event is judged on the history as it stands: its
velocity count sees the kept entries of its window (those within the window of the customer's
newest event, at most ``retained_events``), which is what a bounded run shows it when no newer
event has been scored, and fewer when one has.

The waiting events are re-encoded with the cell at the end of every bundle that touches the
customer: cheap while the watermark moves (a few events wait), quadratic in the number waiting
if it stalls for long (an idle input partition).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.utils.timestamp import Timestamp

from transforms import state_cache_sizing, state_commit
from transforms.coders import (
    BufferedEvent,
    DetectorCell,
    DetectorCellCoder,
    buffered_event_time,
    decode_buffered,
    encode_buffered,
)
from transforms.counters import LATE_EVENTS, NAMESPACE
from transforms.customer_scoring import CustomerScorer, buffered_event_order
from transforms.detect_grouped import ScoreCustomerHistoryFn
from transforms.domain.blacklist import Blacklist
from transforms.domain.config import RulesConfig
from transforms.domain.events import Transaction
from transforms.tags import DLQ_TAG, SCORED_TAG


def _timestamp(epoch_millis: int) -> Timestamp:
    return Timestamp(micros=epoch_millis * 1000)


def _millis(timestamp: Timestamp) -> int:
    return int(timestamp.micros // 1000)


class DetectFraudFn(beam.DoFn):  # type: ignore[misc]
    PROFILE = ReadModifyWriteStateSpec("profile", DetectorCellCoder())
    FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)
    EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(
        self,
        rules: RulesConfig,
        timezone_name: str,
        pipeline_version: str,
        cheap_state_cache_sizing: bool = True,
        streaming: bool = False,
    ) -> None:
        self._rules = rules
        self._streaming = streaming
        self._timezone_name = timezone_name
        self._pipeline_version = pipeline_version
        self._cheap_sizing = cheap_state_cache_sizing
        self._late = Metrics.counter(NAMESPACE, LATE_EVENTS)
        self._expired = Metrics.counter(NAMESPACE, "customers_expired")

    def setup(self) -> None:
        if self._cheap_sizing:
            state_cache_sizing.install()
        state_commit.install()
        self._scorer = CustomerScorer(self._rules, self._timezone_name, self._pipeline_version)

    def process(
        self,
        element: tuple[str, bytes],
        cell_state: Any = beam.DoFn.StateParam(PROFILE),
        flush: Any = beam.DoFn.TimerParam(FLUSH),
        expiry: Any = beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[Any]:
        encoded = element[1]
        event_time_ms = buffered_event_time(encoded)
        cell: DetectorCell = cell_state.read() or DetectorCell()
        evaluated = cell.evaluated_through_ms
        if evaluated is not None and event_time_ms <= evaluated:
            self._late.inc()
            yield from self._score_in_order(cell, [decode_buffered(encoded)])
            self._arm_expiry(cell, expiry)
            cell_state.write(cell)
            return
        cell.buffer.append(encoded)
        if cell.flush_at_ms is None or event_time_ms < cell.flush_at_ms:
            # Fires once the watermark has passed this event: an event exactly at the watermark
            # is still on time, so the timer sits 1 ms after it.
            cell.flush_at_ms = event_time_ms
            flush.set(_timestamp(event_time_ms + 1))
        cell_state.write(cell)

    @on_timer(FLUSH)  # type: ignore[untyped-decorator]
    def flush_buffer(
        self,
        fired_at: Any = beam.DoFn.TimestampParam,
        cell_state: Any = beam.DoFn.StateParam(PROFILE),
        flush: Any = beam.DoFn.TimerParam(FLUSH),
        expiry: Any = beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[Any]:
        cell: DetectorCell | None = cell_state.read()
        if cell is None:
            return
        # Everything at or before this time is complete: later events for it would be late.
        complete_ms = _millis(fired_at) - 1
        waiting: list[bytes] = []
        if cell.buffer:
            due: list[BufferedEvent] = []
            for encoded in cell.buffer:
                if buffered_event_time(encoded) <= complete_ms:
                    due.append(decode_buffered(encoded))
                else:
                    waiting.append(encoded)
            cell.buffer = waiting
            due.sort(key=buffered_event_order)
            yield from self._score_in_order(cell, due)
        if cell.evaluated_through_ms is None or complete_ms > cell.evaluated_through_ms:
            cell.evaluated_through_ms = complete_ms
        if waiting:
            times = [buffered_event_time(encoded) for encoded in waiting]
            # Streaming: wake at the earliest waiting event, so one far-future event cannot hold
            # back the others. Bounded: the watermark is already at +inf, so one wake-up for the
            # whole rest of the buffer is exact and saves a timer round per event.
            cell.flush_at_ms = min(times) if self._streaming else max(times)
            flush.set(_timestamp(cell.flush_at_ms + 1))
        else:
            cell.flush_at_ms = None
        self._arm_expiry(cell, expiry)
        cell_state.write(cell)

    @on_timer(EXPIRY)  # type: ignore[untyped-decorator]
    def expire_idle_customer(
        self,
        fired_at: Any = beam.DoFn.TimestampParam,
        cell_state: Any = beam.DoFn.StateParam(PROFILE),
        flush: Any = beam.DoFn.TimerParam(FLUSH),
        expiry: Any = beam.DoFn.TimerParam(EXPIRY),
    ) -> None:
        cell: DetectorCell | None = cell_state.read()
        if cell is None:
            return
        cell.expiry_at_ms = None
        last = cell.profile.last_event_time_ms
        active_since = last is not None and last + self._rules.inactivity_ms >= _millis(fired_at)
        if cell.buffer or active_since:
            # Buffered events: the pending flush scores them and re-arms expiry.
            if not cell.buffer:
                self._arm_expiry(cell, expiry)
            cell_state.write(cell)
            return
        cell_state.clear()
        flush.clear()
        self._expired.inc()

    def _arm_expiry(self, cell: DetectorCell, expiry: Any) -> None:
        """Arm expiry unless it is pending: when it fires it checks the newest event itself."""
        last = cell.profile.last_event_time_ms
        if last is None:
            # A history forgotten by a comeback whose scoring then failed: still expire the cell.
            last = cell.evaluated_through_ms
        if last is None or cell.expiry_at_ms is not None:
            return
        # The domain forgets history only after a gap strictly longer than the inactivity
        # period, so the state may go 1 ms after that.
        cell.expiry_at_ms = last + self._rules.inactivity_ms + 1
        expiry.set(_timestamp(cell.expiry_at_ms))

    def _score_in_order(self, cell: DetectorCell, events: Iterable[BufferedEvent]) -> Iterator[Any]:
        for tag, _, record in self._scorer.score_in_order(cell.profile, events):
            yield record if tag == SCORED_TAG else beam.pvalue.TaggedOutput(tag, record)


class DetectFraud(beam.PTransform):  # type: ignore[misc]
    """Valid events in; rule-scored transactions out (``scored``, with the anomaly model's
    ``ml_features``) plus a ``dlq`` output. ``ScoreAnomalies`` blends in the model next.

    ``grouped``: score each customer's whole history in one go (``transforms.detect_grouped``)
    instead of through state and timers; the default follows ``streaming`` (a bounded run is
    grouped). Both give the same records.
    """

    def __init__(
        self,
        rules: RulesConfig,
        timezone_name: str,
        blacklist: Blacklist,
        pipeline_version: str,
        cheap_state_cache_sizing: bool = True,
        streaming: bool = False,
        grouped: bool | None = None,
    ) -> None:
        super().__init__()
        self._grouped = not streaming if grouped is None else grouped
        self._fn: beam.DoFn = (
            ScoreCustomerHistoryFn(rules, timezone_name, pipeline_version)
            if self._grouped
            else DetectFraudFn(
                rules, timezone_name, pipeline_version, cheap_state_cache_sizing, streaming
            )
        )
        self._blacklist = blacklist

    def expand(self, events: Any) -> Any:
        # The blacklist is checked before keying: the stateful step scores in timer callbacks,
        # which cannot read side inputs. It is a value shipped with the transform, not a side
        # input, which the portable Flink runner cannot checkpoint (docs/runners.md, "Side
        # inputs break checkpoints on the portable Flink runner").
        keyed = events | "ScreenAndKeyByCustomer" >> beam.Map(
            _screen_and_key, self._blacklist
        ).with_output_types(tuple[str, bytes])
        if self._grouped:
            keyed = keyed | "GroupByCustomer" >> beam.GroupByKey()
            step = "ScoreCustomerHistory"
        else:
            step = "ScoreInEventTimeOrder"
        return keyed | step >> beam.ParDo(self._fn).with_outputs(DLQ_TAG, main=SCORED_TAG)


def _screen_and_key(event: Transaction, blacklist: Blacklist) -> tuple[str, bytes]:
    # A typed str key gives the deterministic key coder that keyed state requires.
    return event.customer_id, encode_buffered(
        event, blacklist.check(event.customer_id, event.store_id)
    )
