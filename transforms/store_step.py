"""TrackStores: the store-keyed step ahead of the customer detector (FR-007's counts).

Each store's transactions and confirmed frauds meet here in event-time order, and each
transaction leaves carrying its store's counts just before it (``StoreRisk``) and whether the
store was blacklisted then, keyed by its customer for the detector. A confirmed fraud counts
from its report time on.

Records of one instant are handled together: the verdicts reported at it and the store's
blacklist changes first, then the transactions, all of which see the store as it was before
any of them. So the counts do not depend on how records of one millisecond are ordered or
batched, and a bounded run (group by store, sort: :class:`ScoreStoreHistoryFn`) and a
streaming run (:mod:`transforms.ordered_step` with :class:`StoreHandler`:
:class:`StoreActivityFn`) agree record for record. A verdict is the latest word on its
transaction (:mod:`transforms.domain.verdicts`): a genuine verdict withdraws a fraud
confirmed before it from the counts.

State per store: one cell with the hourly counts of the last 30 days, the verdicts of that
period and the ordering bookkeeping, and the records waiting for the watermark in the ordered
step's bag (:mod:`transforms.event_time_buffer`). It expires once the newest hour and verdict
have left every window.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import groupby
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from transforms.coders import (
    StoreCell,
    StoreCellCoder,
    buffered_customer_id,
    buffered_event_time,
    buffered_order,
    decode_buffered,
    is_event,
    with_store_verdict,
)
from transforms.counters import NAMESPACE
from transforms.domain.blacklist import Blacklist
from transforms.domain.blacklist_changes import BlacklistChange
from transforms.domain.feedback import Feedback
from transforms.domain.store_risk import HORIZON_HOURS, HOUR_MS, StoreActivity
from transforms.ordered_step import ordered_step

LATE_STORE_RECORDS = "late_store_records"
STORES_EXPIRED = "stores_expired"
STORE_HISTORY_RECORDS = "store_history_records"

KeyedEvent = tuple[str, bytes]


class StoreLoop:
    """What happens to a store's records in order; both paths run it."""

    def __init__(self, blacklist: Blacklist) -> None:
        self._blacklisted_stores = blacklist.stores

    def release(
        self, store_id: str, activity: StoreActivity, ordered: list[bytes]
    ) -> Iterator[tuple[int, KeyedEvent]]:
        """``(event time, (customer id, event with its store's counts))`` per transaction of
        ``ordered`` (sorted by :func:`~transforms.coders.buffered_order`); the activity learns
        every record."""
        for time_ms, records in groupby(ordered, key=buffered_event_time):
            instant = list(records)
            events = [encoded for encoded in instant if is_event(encoded)]
            for encoded in instant:
                if is_event(encoded):
                    continue
                control = decode_buffered(encoded)
                if isinstance(control, Feedback):
                    activity.learn_feedback(control)
                elif isinstance(control, BlacklistChange):
                    activity.learn_change(control)
            if events:
                risk = activity.risk(time_ms)
                blacklisted = self.blacklisted(store_id, activity)
                for encoded in events:
                    released = with_store_verdict(encoded, risk, blacklisted)
                    yield time_ms, (buffered_customer_id(encoded), released)
                for _ in events:
                    activity.add_transaction(time_ms)
        if ordered:
            activity.prune(buffered_event_time(ordered[-1]))

    def blacklisted(self, store_id: str, activity: StoreActivity) -> bool:
        override = activity.blacklisted
        return store_id in self._blacklisted_stores if override is None else override


class ScoreStoreHistoryFn(beam.DoFn):  # type: ignore[misc]
    """The bounded path: a store's whole history in one group, sorted, released in order."""

    def __init__(self, blacklist: Blacklist) -> None:
        self._loop = StoreLoop(blacklist)
        self._history = Metrics.distribution(NAMESPACE, STORE_HISTORY_RECORDS)

    def process(self, element: tuple[str, Iterable[bytes]]) -> Iterator[Any]:
        store_id, records = element
        ordered = sorted(records, key=buffered_order)
        self._history.update(len(ordered))
        for time_ms, keyed in self._loop.release(store_id, StoreActivity(), ordered):
            # Stamped 1 ms after the event, as the streaming path's flush stamps a record it
            # releases (a sweep stamps what it releases at its own, later, time).
            yield TimestampedValue(keyed, Timestamp(micros=(time_ms + 1) * 1000))


class StoreHandler:
    """The store step on the streaming path (:mod:`transforms.ordered_step`)."""

    def __init__(self, blacklist: Blacklist) -> None:
        self._loop = StoreLoop(blacklist)

    def setup(self) -> None:
        pass

    def new_cell(self) -> StoreCell:
        return StoreCell()

    def handle(self, key: str, cell: StoreCell, records: list[bytes]) -> Iterator[KeyedEvent]:
        for _, keyed in self._loop.release(key, cell.activity, records):
            yield keyed

    def expires_at(self, cell: StoreCell) -> int | None:
        """Once the newest hour counted and the newest verdict have left every window."""
        activity = cell.activity
        told = [verdict.reported_at_ms for verdict in activity.verdicts.by_transaction.values()]
        newest = max([hour * HOUR_MS for hour in activity.hours[-1:]] + told, default=None)
        if newest is None:
            return None
        return (newest // HOUR_MS + HORIZON_HOURS) * HOUR_MS

    def expire(self, cell: StoreCell) -> bool:
        activity = cell.activity
        if activity.blacklisted is None:
            return False
        # A blacklist change is reference data, not activity: it outlives the windows.
        cell.activity = StoreActivity(
            blacklisted=activity.blacklisted, blacklisted_since_ms=activity.blacklisted_since_ms
        )
        return True


StoreActivityFn = ordered_step(
    __name__, "StoreActivityFn", "store", StoreCellCoder(), LATE_STORE_RECORDS, STORES_EXPIRED
)


class TrackStores(beam.PTransform):  # type: ignore[misc]
    """``(store_id, record)`` in (encoded events, feedback, store blacklist changes);
    ``(customer_id, event)`` out, each event carrying its store's counts and blacklist
    verdict."""

    def __init__(
        self,
        blacklist: Blacklist,
        grouped: bool,
        streaming: bool,
        cheap_state_cache_sizing: bool = True,
    ) -> None:
        super().__init__()
        self._blacklist = blacklist
        self._grouped = grouped
        self._streaming = streaming
        self._cheap_sizing = cheap_state_cache_sizing

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
        step = StoreActivityFn(
            StoreHandler(self._blacklist),
            self._streaming,
            cheap_state_cache_sizing=self._cheap_sizing,
        )
        return records | "ReleaseInEventTimeOrder" >> beam.ParDo(step).with_output_types(
            tuple[str, bytes]
        )
