"""The event-time ordering buffer both stateful steps share (stores, then customers).

Beam does not order the elements of a key, yet the steps depend on order. So records wait in a
buffer inside the key's state cell until the watermark passes them, and are then handled in
order; a record that arrives after its key has moved past it (a late record) is handled at once
and counted. This module is that bookkeeping, on a cell with ``buffer``, ``flush_at_ms`` and
``evaluated_through_ms``; :mod:`transforms.ordered_step` owns the state and the timers, and
each step what handling means.

``lag_ms``: how far after its record's time an element may be stamped. A step fed by another
stateful step receives each record from a timer, stamped 1 ms after the record's time (a timer
holds the watermark at its own time, and Beam Python cannot stamp a timer's output earlier), so
the watermark passing ``t + 1`` no longer proves that every record at ``t`` has arrived: the
wake-up moves ``lag_ms`` later.

Timer times are always computed from state, never from the current element: setting a timer
again replaces the pending one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from apache_beam.utils.timestamp import Timestamp


def to_timestamp(epoch_millis: int) -> Timestamp:
    return Timestamp(micros=epoch_millis * 1000)


def to_millis(timestamp: Timestamp) -> int:
    return int(timestamp.micros // 1000)


class OrderedCell(Protocol):
    buffer: list[bytes]
    # The pending flush (None: none pending).
    flush_at_ms: int | None
    # The time up to which the key's records have been handled: the watermark passed it.
    evaluated_through_ms: int | None
    # The pending expiry (None: none pending).
    expiry_at_ms: int | None


class EventTimeBuffer:
    """``time_of`` reads a buffered record's time without decoding it."""

    def __init__(self, time_of: Callable[[bytes], int], streaming: bool, lag_ms: int = 0) -> None:
        self._time_of = time_of
        self._streaming = streaming
        self._lag_ms = lag_ms

    def is_late(self, cell: OrderedCell, time_ms: int) -> bool:
        through = cell.evaluated_through_ms
        return through is not None and time_ms <= through

    def hold(self, cell: OrderedCell, encoded: bytes, time_ms: int) -> int | None:
        """Buffer a record that is not late; returns the flush timer's new time, or None when
        the pending one already comes first."""
        cell.buffer.append(encoded)
        if cell.flush_at_ms is not None and time_ms >= cell.flush_at_ms:
            return None
        # Fires once the watermark has passed this record: a record exactly at the watermark
        # is still on time, so the timer sits 1 ms (plus the lag) after it.
        cell.flush_at_ms = time_ms
        return time_ms + 1 + self._lag_ms

    def take_due(self, cell: OrderedCell, fired_at_ms: int) -> list[bytes]:
        """The buffered records the watermark has passed, removed from the buffer (in buffer
        order); the cell is then handled through that time."""
        # Everything at or before this time is complete: later records for it would be late.
        complete_ms = fired_at_ms - 1 - self._lag_ms
        due: list[bytes] = []
        waiting: list[bytes] = []
        time_of = self._time_of
        for encoded in cell.buffer:
            (due if time_of(encoded) <= complete_ms else waiting).append(encoded)
        cell.buffer = waiting
        if cell.evaluated_through_ms is None or complete_ms > cell.evaluated_through_ms:
            cell.evaluated_through_ms = complete_ms
        return due

    def rearm(self, cell: OrderedCell) -> int | None:
        """After ``take_due``: the flush timer's time for what still waits, or None."""
        if not cell.buffer:
            cell.flush_at_ms = None
            return None
        times = [self._time_of(encoded) for encoded in cell.buffer]
        # Streaming: wake at the earliest waiting record, so one far-future record cannot hold
        # back the others. Bounded: the watermark is already at +inf, so one wake-up for the
        # whole rest of the buffer is exact and saves a timer round per record.
        cell.flush_at_ms = min(times) if self._streaming else max(times)
        return cell.flush_at_ms + 1 + self._lag_ms
