"""Per-store activity: transactions and confirmed frauds over recent windows (FR-007).

Design: docs/architecture.md, "Per-store risk and feedback".

A compromised terminal hits every card that passes through it with ordinary amounts at
ordinary hours, so no customer's history shows it; the store's own record does, once the first
chargebacks arrive. A store keeps hourly counts of its transactions (by event time) and of the
frauds confirmed for it (by report time: a chargeback names no transaction time, and counting
it when it arrives is what makes it usable without looking into the future). The risk over a
window is the frauds reported in it per transaction seen in it.

A window of ``d`` days is the hour of the event and the ``24 d - 1`` hours before it. The
counts are kept as prefix sums over the non-empty hours, so a window's totals cost two binary
searches however busy the store, and hours older than the longest window are dropped.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field
from typing import NamedTuple

from transforms.domain.blacklist_changes import BlacklistChange, BlacklistOverride
from transforms.domain.feedback import Feedback
from transforms.domain.verdicts import Verdicts, decode_verdicts, encode_verdicts

WINDOW_DAYS = (1, 7, 30)
HOUR_MS = 3_600_000
HORIZON_HOURS = 24 * max(WINDOW_DAYS)


class StoreRisk(NamedTuple):
    """A store's counts over each of :data:`WINDOW_DAYS`, as seen just before an event."""

    transactions: tuple[int, ...] = (0,) * len(WINDOW_DAYS)
    frauds: tuple[int, ...] = (0,) * len(WINDOW_DAYS)

    def rate(self, window: int) -> float:
        """Frauds reported per transaction over window number ``window``; 0 without any."""
        seen = self.transactions[window]
        return self.frauds[window] / seen if seen else 0.0


NO_STORE_RISK = StoreRisk()


def window_index(days: int) -> int:
    """The position of a ``days``-long window in :data:`WINDOW_DAYS`; ValueError if none."""
    try:
        return WINDOW_DAYS.index(days)
    except ValueError:
        raise ValueError(f"store windows are {WINDOW_DAYS} days, not {days}") from None


@dataclass(slots=True)
class StoreActivity:
    """Hourly counts of one store, ascending by hour, as running totals.

    ``hours[i]`` is an hour index (epoch hours); ``transactions[i]`` and ``frauds[i]`` are the
    totals up to and including that hour, counted from ``base`` (what pruned hours held).
    """

    hours: list[int] = field(default_factory=list)
    transactions: list[int] = field(default_factory=list)
    frauds: list[int] = field(default_factory=list)
    base_transactions: int = 0
    base_frauds: int = 0
    # Whether the store is blacklisted by a change record (None: the initial list decides),
    # and that change's effective time: an older change arriving late does not undo it.
    blacklisted: bool | None = None
    blacklisted_since_ms: int | None = None
    # The verdicts on the store's transactions: a fraud counts from the report that confirmed
    # it until a genuine verdict withdraws it (transforms.domain.verdicts).
    verdicts: Verdicts = field(default_factory=Verdicts)

    @property
    def is_empty(self) -> bool:
        return not self.hours and self.blacklisted is None and not self.verdicts

    def add_transaction(self, time_ms: int) -> None:
        self._add(time_ms // HOUR_MS, 1, 0)

    def learn_feedback(self, feedback: Feedback) -> None:
        """A verdict on one of the store's transactions, at its report time: a confirmed fraud
        counts in the hour it was confirmed, and no more once withdrawn. What no window ending
        at or after the report can reach is forgotten, or counts as forgotten (the same on
        every path, whenever :meth:`prune` has run)."""
        oldest_hour = _oldest_kept_hour(feedback.reported_at_ms)
        change = self.verdicts.learn(feedback, oldest_hour * HOUR_MS)
        if change is not None and change.since_ms // HOUR_MS >= oldest_hour:
            self._add(change.since_ms // HOUR_MS, 0, 1 if change.is_fraud else -1)

    def learn_change(self, change: BlacklistChange) -> None:
        override = BlacklistOverride(self.blacklisted, self.blacklisted_since_ms)
        self.blacklisted, self.blacklisted_since_ms = change.apply_to(override)

    def risk(self, time_ms: int) -> StoreRisk:
        """The counts of each window ending with the hour of ``time_ms``, all of that hour
        included: call it before adding the event itself."""
        hour = time_ms // HOUR_MS
        hours = self.hours
        end = bisect.bisect_right(hours, hour)
        if end == 0:
            return NO_STORE_RISK
        transactions_to = self.transactions[end - 1]
        frauds_to = self.frauds[end - 1]
        seen: list[int] = []
        confirmed: list[int] = []
        for days in WINDOW_DAYS:
            start = bisect.bisect_right(hours, hour - 24 * days, 0, end)
            seen.append(transactions_to - self._transactions_before(start))
            confirmed.append(frauds_to - self._frauds_before(start))
        return StoreRisk(tuple(seen), tuple(confirmed))

    def prune(self, now_ms: int) -> None:
        """Forget hours no window ending at ``now_ms`` or later can reach."""
        oldest_kept = _oldest_kept_hour(now_ms)
        # A verdict told before the oldest window can change no count any more.
        self.verdicts.forget_before(oldest_kept * HOUR_MS)
        drop = bisect.bisect_left(self.hours, oldest_kept)
        if drop:
            self.base_transactions = self.transactions[drop - 1]
            self.base_frauds = self.frauds[drop - 1]
            del self.hours[:drop], self.transactions[:drop], self.frauds[:drop]

    def _transactions_before(self, index: int) -> int:
        return self.transactions[index - 1] if index else self.base_transactions

    def _frauds_before(self, index: int) -> int:
        return self.frauds[index - 1] if index else self.base_frauds

    def _add(self, hour: int, transactions: int, frauds: int) -> None:
        hours = self.hours
        if hours and hours[-1] == hour:  # the common case: the current hour
            self.transactions[-1] += transactions
            self.frauds[-1] += frauds
            return
        if not hours or hours[-1] < hour:
            hours.append(hour)
            self.transactions.append(self._transactions_before(len(hours) - 1) + transactions)
            self.frauds.append(self._frauds_before(len(hours) - 1) + frauds)
            return
        # A late record: an earlier hour, existing or new; the totals after it move up.
        if hours[0] > hour and hours[-1] - hour >= HORIZON_HOURS:
            return  # older than any window: it cannot count any more
        index = bisect.bisect_left(hours, hour)
        if hours[index] != hour:
            hours.insert(index, hour)
            self.transactions.insert(index, self._transactions_before(index))
            self.frauds.insert(index, self._frauds_before(index))
        for position in range(index, len(hours)):
            self.transactions[position] += transactions
            self.frauds[position] += frauds


def _oldest_kept_hour(now_ms: int) -> int:
    """The oldest hour a window ending at ``now_ms`` or later can reach."""
    return now_ms // HOUR_MS - HORIZON_HOURS + 1


# Layout v2: version, blacklist override (0 none, 1 off, 2 on) and its effective time, hour
# count, then per hour its index and its own (not running) transaction and fraud counts, then
# the verdicts (transforms.domain.verdicts). v1 ended after the hours.
_CODEC_VERSION = 2
_CODEC_VERSIONS = (1, 2)
_HEADER = struct.Struct("<B B q I")
# v2: an hour's own fraud count may be negative (a withdrawal of a fraud counted before).
_HOUR = struct.Struct("<q I i")
_HOUR_V1 = struct.Struct("<q I I")
_OVERRIDE = {None: 0, False: 1, True: 2}
_OVERRIDE_BACK = {0: None, 1: False, 2: True}


def encode_store_activity(activity: StoreActivity) -> bytes:
    parts = [
        _HEADER.pack(
            _CODEC_VERSION,
            _OVERRIDE[activity.blacklisted],
            activity.blacklisted_since_ms or 0,
            len(activity.hours),
        )
    ]
    previous_transactions, previous_frauds = activity.base_transactions, activity.base_frauds
    for hour, transactions, frauds in zip(
        activity.hours, activity.transactions, activity.frauds, strict=True
    ):
        parts.append(
            _HOUR.pack(hour, transactions - previous_transactions, frauds - previous_frauds)
        )
        previous_transactions, previous_frauds = transactions, frauds
    parts.append(encode_verdicts(activity.verdicts))
    return b"".join(parts)


def decode_store_activity(data: bytes) -> StoreActivity:
    if not data or data[0] not in _CODEC_VERSIONS:
        version = data[0] if data else None
        raise ValueError(f"unknown store activity encoding version {version}")
    _, override, since, count = _HEADER.unpack_from(data)
    hour = _HOUR if data[0] > 1 else _HOUR_V1
    hours_end = _HEADER.size + count * hour.size
    if len(data) < hours_end or (data[0] == 1 and len(data) != hours_end):
        raise ValueError(f"store activity of {count} hours truncated: {len(data)} bytes")
    listed = _OVERRIDE_BACK[override]
    activity = StoreActivity(
        blacklisted=listed, blacklisted_since_ms=since if listed is not None else None
    )
    if data[0] > 1:
        activity.verdicts, end = decode_verdicts(data, hours_end)
        if end != len(data):
            raise ValueError(f"store activity: {len(data) - end} bytes after the verdicts")
    running_transactions = running_frauds = 0
    for index, transactions, frauds in hour.iter_unpack(data[_HEADER.size : hours_end]):
        running_transactions += transactions
        running_frauds += frauds
        activity.hours.append(index)
        activity.transactions.append(running_transactions)
        activity.frauds.append(running_frauds)
    return activity
