"""TrackStores: the store-keyed step ahead of the customer detector (FR-007's counts).

Each store's transactions and confirmed frauds meet here in event-time order, and each
transaction leaves carrying its store's counts just before it (``StoreRisk``) and whether the
store was blacklisted then, keyed by its customer for the detector. A confirmed fraud counts
from its report time on.

Records of one instant are handled together: the frauds reported at it and the store's
blacklist changes first, then the transactions, all of which see the store as it was before
any of them. So the counts do not depend on how records of one millisecond are ordered or
batched, and a bounded run (group by store, sort: :class:`ScoreStoreHistoryFn`) and a
streaming run (state and timers, with the buffer of :mod:`transforms.event_time_buffer`:
:class:`StoreActivityFn`) agree record for record.

State per store: one cell with the hourly counts of the last 30 days, the records waiting for
the watermark and the ordering bookkeeping. An ``expiry`` timer clears it once the newest hour
has left every window.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import groupby
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from transforms.coders import (
    StoreCell,
    StoreCellCoder,
    buffered_customer_id,
    buffered_event_time,
    decode_buffered,
    is_blacklist_change,
    is_event,
    is_fraud_report,
    with_store_verdict,
)
from transforms.counters import NAMESPACE
from transforms.domain.blacklist import Blacklist
from transforms.domain.blacklist_changes import BlacklistChange
from transforms.domain.store_risk import (
    HORIZON_HOURS,
    HOUR_MS,
    StoreActivity,
)
from transforms.event_time_buffer import EventTimeBuffer, to_millis, to_timestamp

LATE_STORE_RECORDS = "late_store_records"
STORES_EXPIRED = "stores_expired"
STORE_HISTORY_RECORDS = "store_history_records"

KeyedEvent = tuple[str, bytes]


def _record_order(encoded: bytes) -> tuple[int, bool, bytes]:
    # Frauds reported at an instant count for the transactions of that instant; the bytes make
    # ties (an add and a remove at one instant) the same on every path: the add comes last.
    return buffered_event_time(encoded), is_event(encoded), encoded


class StoreLoop:
    """What happens to a store's records in order; both paths run it."""

    def __init__(self, store_id: str, blacklist: Blacklist) -> None:
        self._initially_blacklisted = store_id in blacklist.stores

    def release(
        self, activity: StoreActivity, ordered: list[bytes]
    ) -> Iterator[tuple[int, KeyedEvent]]:
        """``(event time, (customer id, event with its store's counts))`` per transaction of
        ``ordered`` (sorted by :func:`_record_order`); the activity learns every record."""
        for time_ms, records in groupby(ordered, key=buffered_event_time):
            instant = list(records)
            events = [encoded for encoded in instant if is_event(encoded)]
            for encoded in instant:
                if is_fraud_report(encoded):  # a genuine verdict changes no count
                    activity.add_fraud_report(time_ms)
                elif is_blacklist_change(encoded):
                    change = decode_buffered(encoded)
                    assert isinstance(change, BlacklistChange)
                    if change.supersedes(activity.blacklisted_since_ms):
                        activity.blacklisted = change.listed
                        activity.blacklisted_since_ms = change.effective_at_ms
            if events:
                risk = activity.risk(time_ms)
                blacklisted = self.blacklisted(activity)
                for encoded in events:
                    released = with_store_verdict(encoded, risk, blacklisted)
                    yield time_ms, (buffered_customer_id(encoded), released)
                for _ in events:
                    activity.add_transaction(time_ms)
        if ordered:
            activity.prune(buffered_event_time(ordered[-1]))

    def blacklisted(self, activity: StoreActivity) -> bool:
        override = activity.blacklisted
        return self._initially_blacklisted if override is None else override


class ScoreStoreHistoryFn(beam.DoFn):  # type: ignore[misc]
    """The bounded path: a store's whole history in one group, sorted, released in order."""

    def __init__(self, blacklist: Blacklist) -> None:
        self._blacklist = blacklist
        self._history = Metrics.distribution(NAMESPACE, STORE_HISTORY_RECORDS)

    def process(self, element: tuple[str, Iterable[bytes]]) -> Iterator[Any]:
        store_id, records = element
        ordered = sorted(records, key=_record_order)
        self._history.update(len(ordered))
        loop = StoreLoop(store_id, self._blacklist)
        for time_ms, keyed in loop.release(StoreActivity(), ordered):
            # Stamped 1 ms after the event, as the streaming path's timer stamps it.
            yield TimestampedValue(keyed, Timestamp(micros=(time_ms + 1) * 1000))


class StoreActivityFn(beam.DoFn):  # type: ignore[misc]
    """The streaming path: records wait in the store's cell until the watermark passes them."""

    CELL = ReadModifyWriteStateSpec("store", StoreCellCoder())
    FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)
    EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, blacklist: Blacklist, streaming: bool) -> None:
        self._blacklist = blacklist
        self._buffer = EventTimeBuffer(buffered_event_time, streaming)
        self._late = Metrics.counter(NAMESPACE, LATE_STORE_RECORDS)
        self._expired = Metrics.counter(NAMESPACE, STORES_EXPIRED)

    def process(
        self,
        element: tuple[str, bytes],
        cell_state: Any = beam.DoFn.StateParam(CELL),
        flush: Any = beam.DoFn.TimerParam(FLUSH),
        expiry: Any = beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[KeyedEvent]:
        store_id, encoded = element
        time_ms = buffered_event_time(encoded)
        cell: StoreCell = cell_state.read() or StoreCell()
        if self._buffer.is_late(cell, time_ms):
            # Handled at once on the store as it stands.
            self._late.inc()
            loop = StoreLoop(store_id, self._blacklist)
            for _, keyed in loop.release(cell.activity, [encoded]):
                yield keyed
            self._arm_expiry(cell, expiry)
        else:
            wake_at = self._buffer.hold(cell, encoded, time_ms)
            if wake_at is not None:
                flush.set(to_timestamp(wake_at))
        cell_state.write(cell)

    @on_timer(FLUSH)  # type: ignore[untyped-decorator]
    def flush_buffer(
        self,
        key: str = beam.DoFn.KeyParam,
        fired_at: Any = beam.DoFn.TimestampParam,
        cell_state: Any = beam.DoFn.StateParam(CELL),
        flush: Any = beam.DoFn.TimerParam(FLUSH),
        expiry: Any = beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[KeyedEvent]:
        cell: StoreCell | None = cell_state.read()
        if cell is None:
            return
        due = sorted(self._buffer.take_due(cell, to_millis(fired_at)), key=_record_order)
        loop = StoreLoop(key, self._blacklist)
        for _, keyed in loop.release(cell.activity, due):
            yield keyed
        wake_at = self._buffer.rearm(cell)
        if wake_at is not None:
            flush.set(to_timestamp(wake_at))
        self._arm_expiry(cell, expiry)
        cell_state.write(cell)

    @on_timer(EXPIRY)  # type: ignore[untyped-decorator]
    def expire_idle_store(
        self,
        fired_at: Any = beam.DoFn.TimestampParam,
        cell_state: Any = beam.DoFn.StateParam(CELL),
        flush: Any = beam.DoFn.TimerParam(FLUSH),
        expiry: Any = beam.DoFn.TimerParam(EXPIRY),
    ) -> None:
        cell: StoreCell | None = cell_state.read()
        if cell is None:
            return
        cell.expiry_at_ms = None
        newest = cell.activity.newest_hour
        if cell.buffer or (newest is not None and _expiry_time(newest) > to_millis(fired_at)):
            if not cell.buffer:  # active since: a pending flush re-arms it otherwise
                self._arm_expiry(cell, expiry)
            cell_state.write(cell)
            return
        self._expired.inc()
        if cell.activity.blacklisted is not None:
            # A blacklist change is reference data, not activity: it outlives the windows.
            cell.activity = StoreActivity(
                blacklisted=cell.activity.blacklisted,
                blacklisted_since_ms=cell.activity.blacklisted_since_ms,
            )
            cell_state.write(cell)
            return
        cell_state.clear()
        flush.clear()

    def _arm_expiry(self, cell: StoreCell, expiry: Any) -> None:
        newest = cell.activity.newest_hour
        if newest is None or cell.expiry_at_ms is not None:
            return
        cell.expiry_at_ms = _expiry_time(newest)
        expiry.set(to_timestamp(cell.expiry_at_ms))


def _expiry_time(newest_hour: int) -> int:
    """When the newest counted hour has left every window."""
    return (newest_hour + HORIZON_HOURS) * HOUR_MS


class TrackStores(beam.PTransform):  # type: ignore[misc]
    """``(store_id, record)`` in (encoded events, fraud feedback, store blacklist changes);
    ``(customer_id, event)`` out, each event carrying its store's counts and blacklist
    verdict."""

    def __init__(self, blacklist: Blacklist, grouped: bool, streaming: bool) -> None:
        super().__init__()
        self._blacklist = blacklist
        self._grouped = grouped
        self._streaming = streaming

    def expand(self, records: Any) -> Any:
        if self._grouped:
            return (
                records
                | "GroupByStore" >> beam.GroupByKey()
                | "ReleaseStoreHistory"
                >> beam.ParDo(ScoreStoreHistoryFn(self._blacklist)).with_output_types(
                    tuple[str, bytes]
                )
            )
        return records | "ReleaseInEventTimeOrder" >> beam.ParDo(
            StoreActivityFn(self._blacklist, self._streaming)
        ).with_output_types(tuple[str, bytes])
