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
* ``expiry`` (event time): clears the customer after ``inactivity_days`` without events (and
  not before a confirmed compromise has aged out of FR-008; a blacklist change is kept), since
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

from transforms import state_cache_sizing, state_commit
from transforms.coders import (
    Buffered,
    DetectorCell,
    DetectorCellCoder,
    buffered_event_time,
    decode_buffered,
    encode_blacklist_change,
    encode_buffered,
    encode_feedback,
)
from transforms.counters import LATE_EVENTS, NAMESPACE, STORE_CHANGES_UNAPPLIED
from transforms.customer_scoring import CustomerScorer, buffered_event_order
from transforms.detect_grouped import ScoreCustomerHistoryFn
from transforms.domain.blacklist import Blacklist, BlacklistHit
from transforms.domain.blacklist_changes import BlacklistChange
from transforms.domain.config import RulesConfig
from transforms.domain.events import Transaction
from transforms.domain.feedback import Feedback
from transforms.domain.state import CustomerProfile
from transforms.event_time_buffer import EventTimeBuffer, to_millis, to_timestamp
from transforms.store_step import TrackStores
from transforms.tags import DLQ_TAG, SCORED_TAG


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
        arrival_lag_ms: int = 0,
    ) -> None:
        self._rules = rules
        self._buffer = EventTimeBuffer(buffered_event_time, streaming, arrival_lag_ms)
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
        time_ms = buffered_event_time(encoded)
        cell: DetectorCell = cell_state.read() or DetectorCell()
        if self._buffer.is_late(cell, time_ms):
            self._late.inc()
            yield from self._score_in_order(cell, [decode_buffered(encoded)])
            self._arm_expiry(cell, expiry)
            cell_state.write(cell)
            return
        wake_at = self._buffer.hold(cell, encoded, time_ms)
        if wake_at is not None:
            flush.set(to_timestamp(wake_at))
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
        taken = self._buffer.take_due(cell, to_millis(fired_at))
        due = [decode_buffered(encoded) for encoded in taken]
        if due:
            due.sort(key=buffered_event_order)
            yield from self._score_in_order(cell, due)
        wake_at = self._buffer.rearm(cell)
        if wake_at is not None:
            flush.set(to_timestamp(wake_at))
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
        expires_at = self._expires_at(cell)
        if cell.buffer or (expires_at is not None and expires_at > to_millis(fired_at)):
            # Buffered events: the pending flush scores them and re-arms expiry.
            if not cell.buffer:
                self._arm_expiry(cell, expiry)
            cell_state.write(cell)
            return
        self._expired.inc()
        if cell.profile.blacklisted is not None:
            # A blacklist change is reference data, not history: it outlives inactivity.
            profile = cell.profile
            cell.profile = CustomerProfile(
                blacklisted=profile.blacklisted, blacklisted_since_ms=profile.blacklisted_since_ms
            )
            cell_state.write(cell)
            return
        cell_state.clear()
        flush.clear()

    def _expires_at(self, cell: DetectorCell) -> int | None:
        """When nothing in the cell can matter to a later record: the history once the domain
        would forget it (1 ms after a gap of the inactivity period), a confirmed compromise once
        FR-008's period is over. None: nothing to expire yet."""
        last = cell.profile.last_event_time_ms
        if last is None:
            # A history forgotten by a comeback whose scoring then failed, or feedback alone.
            last = cell.evaluated_through_ms
        if last is None:
            return None
        expires_at = last + self._rules.inactivity_ms + 1
        compromise = cell.profile.compromise
        if compromise is not None:
            active_until = compromise.reported_at_ms + self._rules.compromised_card.active_ms
            expires_at = max(expires_at, active_until + 1)
        return expires_at

    def _arm_expiry(self, cell: DetectorCell, expiry: Any) -> None:
        """Arm expiry unless it is pending: when it fires it checks the cell again itself."""
        if cell.expiry_at_ms is not None:
            return
        expires_at = self._expires_at(cell)
        if expires_at is None:
            return
        cell.expiry_at_ms = expires_at
        expiry.set(to_timestamp(expires_at))

    def _score_in_order(self, cell: DetectorCell, events: Iterable[Buffered]) -> Iterator[Any]:
        for tag, _, record in self._scorer.score_in_order(cell.profile, events):
            yield record if tag == SCORED_TAG else beam.pvalue.TaggedOutput(tag, record)


class DetectFraud(beam.PTransform):  # type: ignore[misc]
    """Valid events in, with any feedback; rule-scored transactions out (``scored``, with the
    anomaly model's ``ml_features``) plus a ``dlq`` output. ``ScoreAnomalies`` blends in the
    model next.

    Input: the events, or ``{"events": ..., "feedback": ..., "blacklist_changes": ...}``.
    Events pass the store step (:mod:`transforms.store_step`: their store's counts) and then
    the customer step. Feedback goes to both (a store counts frauds only), a blacklist change
    to its store or customer; each is stamped at its own time and counts from then on.

    ``grouped``: handle each store's and customer's whole history in one go
    (``transforms.detect_grouped``) instead of through state and timers; the default follows
    ``streaming`` (a bounded run is grouped). Both give the same records.

    ``track_stores=False`` leaves the store step out: no store counts (FR-007 cannot fire) and
    the store blacklist is the initial list (store changes are counted as
    ``store_blacklist_changes_unapplied``). The customer step then runs alone, which is how
    its streaming behaviour is tested on the Python direct runner: that runner does not hold
    the watermark for a timer's output, so a stateful step behind another one sees the
    upstream timer's records late there (Flink holds it).

    ``break_fusion``: on the stateful path, put a shuffle between the two steps, which Python's
    in-process runner needs; Flink does not (``pipelines.fraud`` turns it off there).
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
        track_stores: bool = True,
        break_fusion: bool = True,
    ) -> None:
        super().__init__()
        self._break_fusion = break_fusion
        self._grouped = not streaming if grouped is None else grouped
        self._streaming = streaming
        self._track_stores = track_stores
        self._fn: beam.DoFn = (
            ScoreCustomerHistoryFn(rules, timezone_name, pipeline_version)
            if self._grouped
            else DetectFraudFn(
                rules,
                timezone_name,
                pipeline_version,
                cheap_state_cache_sizing,
                streaming,
                # Events come from the store step's timers, stamped 1 ms after their time.
                arrival_lag_ms=1 if track_stores else 0,
            )
        )
        self._blacklist = blacklist

    def expand(self, inputs: Any) -> Any:
        if not isinstance(inputs, dict):
            inputs = {"events": inputs}
        # The blacklist is checked before keying: the stateful steps work in timer callbacks,
        # which cannot read side inputs. It is a value shipped with the transform, not a side
        # input, which the portable Flink runner cannot checkpoint (docs/runners.md, "Side
        # inputs break checkpoints on the portable Flink runner"). The store step gives the
        # store's verdict, changes included.
        blacklist, track_stores = self._blacklist, self._track_stores
        keyed = inputs["events"] | "ScreenAndKey" >> beam.Map(
            _screen_and_key, blacklist, track_stores
        ).with_output_types(tuple[str, bytes])
        controls = []
        if inputs.get("feedback") is not None:
            controls.append(
                inputs["feedback"]
                | "EncodeFeedback" >> beam.Map(encode_feedback).with_output_types(bytes)
            )
        if inputs.get("blacklist_changes") is not None:
            controls.append(
                inputs["blacklist_changes"]
                | "EncodeChanges" >> beam.Map(encode_blacklist_change).with_output_types(bytes)
            )
        to_customers = []
        if controls:
            routed = (
                controls
                | "AllControls" >> beam.Flatten()
                | "RouteControls"
                >> beam.ParDo(_RouteControlFn(track_stores)).with_outputs(
                    _TO_STORES, main=_TO_CUSTOMERS
                )
            )
            to_customers.append(routed[_TO_CUSTOMERS])
            if track_stores:
                keyed = (keyed, routed[_TO_STORES]) | "StoreRecords" >> beam.Flatten()
        if track_stores:
            keyed = keyed | "TrackStores" >> TrackStores(blacklist, self._grouped, self._streaming)
            if not self._grouped and self._break_fusion:
                # Python's FnApiRunner fuses the customer step into the store step's stage and
                # then loses the timers the customer step sets while the store's timers emit.
                # Flink's fuser never fuses a stateful step into a stage: no shuffle needed.
                keyed = keyed | "SeparateSteps" >> beam.Reshuffle()
        if to_customers:
            keyed = (keyed, *to_customers) | "CustomerRecords" >> beam.Flatten()
        if self._grouped:
            keyed = keyed | "GroupByCustomer" >> beam.GroupByKey()
            step = "ScoreCustomerHistory"
        else:
            step = "ScoreInEventTimeOrder"
        return keyed | step >> beam.ParDo(self._fn).with_outputs(DLQ_TAG, main=SCORED_TAG)


_TO_CUSTOMERS, _TO_STORES = "customers", "stores"


class _RouteControlFn(beam.DoFn):  # type: ignore[misc]
    """Feedback and blacklist changes to the step whose state they change: every feedback
    record to its customer and a confirmed fraud also to its store; a change to its customer
    or its store."""

    def __init__(self, track_stores: bool) -> None:
        self._track_stores = track_stores
        self._unapplied = Metrics.counter(NAMESPACE, STORE_CHANGES_UNAPPLIED)

    def process(self, encoded: bytes) -> Iterator[Any]:
        record = decode_buffered(encoded)
        store_id = None
        if isinstance(record, Feedback):
            yield record.customer_id, encoded
            store_id = record.store_id if record.is_fraud else None
        elif isinstance(record, BlacklistChange):
            if record.kind == "customer":
                yield record.id, encoded
            else:
                store_id = record.id
        if store_id is None:
            return
        if self._track_stores:
            yield beam.pvalue.TaggedOutput(_TO_STORES, (store_id, encoded))
        elif isinstance(record, BlacklistChange):
            self._unapplied.inc()  # without the store step only the initial list holds


def _screen_and_key(event: Transaction, blacklist: Blacklist, by_store: bool) -> tuple[str, bytes]:
    # A typed str key gives the deterministic key coder that keyed state requires. Keyed by
    # store, the store step gives the store's blacklist verdict.
    if by_store:
        hit = BlacklistHit(event.customer_id in blacklist.customers, False)
        return event.store_id, encode_buffered(event, hit)
    return event.customer_id, encode_buffered(
        event, blacklist.check(event.customer_id, event.store_id)
    )
