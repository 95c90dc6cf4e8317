"""The event-time ordering buffer both stateful steps share (stores, then customers).

Beam does not order the elements of a key, yet the steps depend on order. So records wait until
the watermark passes them, and are then handled in order; a record that arrives after its key
has moved past it (a late record) is handled at once and counted. This module is that
bookkeeping; :mod:`transforms.ordered_step` owns the state and the timers, and each step what
handling means.

Where the waiting records live, and why (a hot store holds thousands while the watermark
waits, a replayed file all of its history):

* **persisted** in a bag state that is only appended to as records arrive, so an arrival costs
  the runner one small append, never a rewrite of what already waits; the bag is rewritten
  only once at least as many records in it have been released as still wait, so each record
  is written a bounded number of times (measured: a buffer rewritten whole at every bundle cost
  the live path two thirds of its throughput);
* **in memory**, sorted, in the key's state cell as the SDK's state cache keeps it between
  bundles (:class:`Waiting`): an arrival is a sorted insert, a flush a slice. Never encoded
  with the cell: after a restore or a cache eviction it is rebuilt from the bag (records at or
  before ``evaluated_through_ms`` in the bag were released already).

The pending flush is always at the earliest waiting record, so it is derived from what waits
rather than stored: a cell read back from the runner cannot hold a stale one. (A bounded run
re-arms at the latest record instead, once the watermark is at +inf, when nothing arrives.)

``lag_ms``: how far after its record's time an element may be stamped. A step fed by another
stateful step receives each record from a timer, stamped at the timer's time (Beam Python
cannot stamp a timer's output earlier): 1 ms after the record's time when its flush releases
it, later when a sweep at a later record does. Either way the upstream flush at its earliest
waiting record holds its output watermark at ``t + 1`` or below until ``t`` has left, so the
watermark passing ``t + 1`` no longer proves that every record at ``t`` has arrived but
passing ``t + 1 + lag_ms`` does: the wake-up moves ``lag_ms`` later.

Timer times are always computed from state, never from the current element: setting a timer
again replaces the pending one.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from apache_beam.utils.timestamp import Timestamp

OrderKey = tuple[int, int, bytes]
# How many of a key's last advances ahead of its earliest waiting record the sweep reaches.
REACH = 8


def to_timestamp(epoch_millis: int) -> Timestamp:
    return Timestamp(micros=epoch_millis * 1000)


def to_millis(timestamp: Timestamp) -> int:
    return int(timestamp.micros // 1000)


@dataclass(slots=True)
class Waiting:
    """The records of one key waiting for the watermark, sorted by their order key, and how
    many records the persisted bag holds that were released already."""

    entries: list[tuple[OrderKey, bytes]] = field(default_factory=list)
    released_in_bag: int = 0
    # The encoded size of what waits, kept as records come and go: the state cache weighs the
    # cell when it is written, and walking a hot store's records each time would cost their
    # number.
    record_bytes: int = 0
    # How many records waited when the cell was last written (weighed by the state cache): the
    # ordered step writes it again once that has doubled, so the cache's bound stays true.
    weighed: int = 0
    # The record time the pending sweep releases through (None: none known to be pending).
    sweep_at_ms: int | None = None
    # How far the key's last release moved its time (None: unknown, as after the runner evicted
    # the cell from the cache and it was read back).
    advance_ms: int | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def earliest_ms(self) -> int | None:
        """The earliest waiting record's time: where the pending flush is (None: none)."""
        return self.entries[0][0][0] if self.entries else None

    def add(self, order: OrderKey, encoded: bytes) -> None:
        entries, entry = self.entries, (order, encoded)
        # Ties by the bytes too, as a rebuild sorts them: the same order cached or not.
        if not entries or entry >= entries[-1]:
            entries.append(entry)
        else:
            bisect.insort(entries, entry)
        self.record_bytes += len(encoded)

    def take_through(self, time_ms: int) -> list[bytes]:
        """The records at or before ``time_ms``, in order, removed."""
        entries = self.entries
        split = bisect.bisect_left(entries, ((time_ms + 1,),))
        due = [encoded for _, encoded in entries[:split]]
        del entries[:split]
        self.record_bytes -= sum(map(len, due))
        return due

    def outgrew_its_weight(self) -> bool:
        return len(self.entries) >= 2 * max(self.weighed, 32)

    def size_bytes(self) -> int:
        return self.record_bytes + 72 * len(self.entries)


class OrderedCell(Protocol):
    # Records waiting in the cell itself, written by a release that kept them there: moved to
    # the bag when the key's records are next looked at (its first arrival or timer).
    buffer: list[bytes]
    # The time up to which the key's records have been handled: the watermark passed it.
    evaluated_through_ms: int | None
    # The pending expiry (None: none pending).
    expiry_at_ms: int | None
    # In memory only (see the module docstring); None until rebuilt.
    waiting: Any


class Bag(Protocol):
    def read(self) -> Iterable[bytes]: ...

    def add(self, value: bytes) -> None: ...

    def clear(self) -> None: ...


class EventTimeBuffer:
    """``order_of`` gives a buffered record's order key (its time first) without decoding it."""

    def __init__(self, order_of: Callable[[bytes], OrderKey], streaming: bool, lag_ms: int = 0):
        self._order_of = order_of
        self._streaming = streaming
        self._lag_ms = lag_ms

    def is_late(self, cell: OrderedCell, time_ms: int) -> bool:
        through = cell.evaluated_through_ms
        return through is not None and time_ms <= through

    def waiting(self, cell: OrderedCell, bag: Bag) -> Waiting:
        """The cell's waiting records, rebuilt from the bag when the cell came from the runner."""
        if cell.waiting is None:
            through = cell.evaluated_through_ms
            waiting = self.rebuild(
                bag.read(), lambda time_ms, _: through is not None and time_ms <= through
            )
            # Records a cell of an earlier release kept inline (all after ``through``) move to
            # the bag: the caller writes the cell, which then holds none.
            for encoded in cell.buffer:
                waiting.add(self._order_of(encoded), encoded)
                bag.add(encoded)
            cell.buffer = []
            cell.waiting = waiting
        waiting_: Waiting = cell.waiting
        return waiting_

    def rebuild(self, records: Iterable[bytes], released: Callable[[int, bytes], bool]) -> Waiting:
        """What waits, from a bag's ``records``: those ``released(time_ms, record)`` says were
        handed over already are only counted (the bag is rewritten once they outnumber it)."""
        entries, released_count = [], 0
        for encoded in records:
            order = self._order_of(encoded)
            if released(order[0], encoded):
                released_count += 1
            else:
                entries.append((order, encoded))
        entries.sort()
        record_bytes = sum(len(encoded) for _, encoded in entries)
        return Waiting(entries, released_count, record_bytes=record_bytes)

    def hold(self, waiting: Waiting, bag: Bag, encoded: bytes) -> int | None:
        """Keep a record that is not late; returns the flush timer's new time, or None when
        the pending one already comes first."""
        pending_ms = waiting.earliest_ms()
        order = self._order_of(encoded)
        waiting.add(order, encoded)
        bag.add(encoded)
        time_ms = order[0]
        if pending_ms is not None and time_ms >= pending_ms:
            return None
        # Fires once the watermark has passed this record: a record exactly at the watermark
        # is still on time, so the timer sits 1 ms (plus the lag) after it.
        return time_ms + 1 + self._lag_ms

    def take_due(
        self, cell: OrderedCell, waiting: Waiting, fired_at_ms: int, *, swept: bool = False
    ) -> list[bytes]:
        """A timer fired (``swept``: the sweep, which is then no longer pending): the waiting
        records the watermark has passed, in order, removed from what waits; the cell is then
        handled through that time."""
        if swept:
            waiting.sweep_at_ms = None
        # Everything at or before this time is complete: later records for it would be late.
        complete_ms = fired_at_ms - 1 - self._lag_ms
        due = waiting.take_through(complete_ms)
        waiting.released_in_bag += len(due)
        through = cell.evaluated_through_ms
        if through is None or complete_ms > through:
            if through is not None:
                # Halving what it was at most: a flush moving the key 1 ms in the round where
                # the watermark moved an hour must not make the next sweep short-sighted.
                advance = waiting.advance_ms or 0
                waiting.advance_ms = max(complete_ms - through, advance // 2)
            cell.evaluated_through_ms = complete_ms
        return due

    def compact(self, waiting: Waiting, bag: Bag) -> None:
        """Rewrite the bag once it holds at least as many released records as waiting ones:
        each record is rewritten a bounded number of times, however long it waits."""
        if waiting.released_in_bag and waiting.released_in_bag >= len(waiting.entries):
            bag.clear()
            for _, encoded in waiting.entries:
                bag.add(encoded)
            waiting.released_in_bag = 0

    def sweep(self, waiting: Waiting) -> int | None:
        """The sweep timer's new time, or None when none is needed or the pending one comes
        first. Streaming only (a bounded run's flush already wakes once for the rest).

        A timer releases what waits through its own time, never through the watermark, which
        Beam Python does not show a DoFn. With the flush alone at the earliest record, a key
        with ``n`` records waiting needs ``n`` rounds of the runner's timers however far the
        watermark has moved (measured on Flink: 16 busy keys released under 100 records/s with
        the machine idle). The sweep sits at the latest waiting record, so a watermark that has
        passed them all releases them in one round. Unless that record lies far beyond what the
        key's last release suggests the watermark will reach (more than :data:`REACH` of its
        advances past the earliest waiting record: a terminal whose clock is a day fast): the
        sweep is then at the latest record within that reach, so records far ahead cannot hold
        back the others, and a key catching up multiplies its reach by nine per round. Both
        measures are of event time, so this holds on a replay compressing days into seconds as
        on live traffic.
        """
        entries, first_ms = waiting.entries, waiting.earliest_ms()
        if not self._streaming or first_ms is None or len(entries) < 2:
            return None
        time_ms = entries[-1][0][0]
        advance = waiting.advance_ms
        if advance is not None and time_ms - first_ms > REACH * advance:
            within = bisect.bisect_left(entries, ((first_ms + REACH * advance + 1,),))
            time_ms = entries[within - 1][0][0]
        if time_ms <= first_ms:  # the flush releases through it
            return None
        if waiting.sweep_at_ms is not None and waiting.sweep_at_ms <= time_ms:
            return None
        waiting.sweep_at_ms = time_ms
        return time_ms + 1 + self._lag_ms

    def rearm(self, waiting: Waiting) -> int | None:
        """After ``take_due``: the flush timer's time for what still waits, or None."""
        entries, first_ms = waiting.entries, waiting.earliest_ms()
        if first_ms is None:
            return None
        # Streaming: wake at the earliest waiting record, so one far-future record cannot hold
        # back the others. Bounded: the watermark is already at +inf, so one wake-up for the
        # whole rest of the buffer is exact and saves a timer round per record.
        wake_ms = first_ms if self._streaming else entries[-1][0][0]
        return wake_ms + 1 + self._lag_ms
