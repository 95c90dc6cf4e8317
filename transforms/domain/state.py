"""Per-customer history and its explicit, versioned binary encoding.

Design: docs/architecture.md, "Per-customer state and event-time order".

The profile is what the rules know about a customer before each event: amount statistics
(Welford's running mean and variance), hour-of-day statistics on the circle (23:30 and 00:30
are one hour apart), the last known location, and the recent event times of the velocity
window. It lives in one Beam state cell, so its encoding is compact (about 100 bytes plus 8
per event in the velocity window), deterministic, and versioned: a change of layout adds a
version instead of silently misreading state written by a running job.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

from transforms.domain.verdicts import Verdict, Verdicts, decode_verdicts, encode_verdicts

_TWO_PI = 2.0 * math.pi
# Resultant lengths this close to 1 are identical hours up to float rounding: no spread.
_NO_SPREAD_EPSILON = 1e-12


@dataclass(slots=True)
class AmountStats:
    """Welford's online mean and variance of transaction amounts."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, amount: float) -> None:
        self.count += 1
        delta = amount - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (amount - self.mean)

    @property
    def std(self) -> float:
        """Sample standard deviation; 0 with fewer than two observations."""
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0


@dataclass(slots=True)
class HourStats:
    """Circular statistics of the local hour of day, as sums of unit vectors."""

    count: int = 0
    sum_sin: float = 0.0
    sum_cos: float = 0.0

    def add(self, hour: float) -> None:
        angle = hour / 24.0 * _TWO_PI
        self.count += 1
        self.sum_sin += math.sin(angle)
        self.sum_cos += math.cos(angle)

    @property
    def mean_hour(self) -> float:
        angle = math.atan2(self.sum_sin, self.sum_cos) % _TWO_PI
        return angle / _TWO_PI * 24.0

    @property
    def std_hours(self) -> float:
        """Circular standard deviation sqrt(-2 ln R) in hours; 0 when there is no spread."""
        if self.count == 0:
            return 0.0
        resultant = math.hypot(self.sum_sin, self.sum_cos) / self.count
        if resultant >= 1.0 - _NO_SPREAD_EPSILON:
            return 0.0
        if resultant <= 0.0:  # hours that cancel out exactly, e.g. 00:05:49 and 12:05:49
            return math.inf
        return math.sqrt(-2.0 * math.log(resultant)) / _TWO_PI * 24.0

    def distance_hours(self, hour: float) -> float:
        """Shortest distance around the clock between ``hour`` and the mean hour."""
        gap = abs(hour - self.mean_hour) % 24.0
        return min(gap, 24.0 - gap)


@dataclass(slots=True)
class LastLocation:
    latitude: float
    longitude: float
    event_time_ms: int


@dataclass(slots=True)
class CustomerProfile:
    """Everything the rules know about one customer before the current event."""

    amounts: AmountStats = field(default_factory=AmountStats)
    hours: HourStats = field(default_factory=HourStats)
    last_location: LastLocation | None = None
    # Event times (epoch ms) inside the velocity window, ascending.
    recent_event_times: list[int] = field(default_factory=list)
    last_event_time_ms: int | None = None
    # Told, not learnt: the verdicts on the customer's transactions (FR-008 reads the confirmed
    # frauds) and a blacklist change (None: the initial list decides). Inactivity does not
    # forget them; the detector drops verdicts once FR-008's period is over.
    verdicts: Verdicts = field(default_factory=Verdicts)
    blacklisted: bool | None = None
    # The effective time of the change behind ``blacklisted``: an older change arriving late
    # does not undo it.
    blacklisted_since_ms: int | None = None

    @property
    def is_empty(self) -> bool:
        return (
            self.amounts.count == 0
            and self.last_event_time_ms is None
            and not self.verdicts
            and self.blacklisted is None
        )

    def forget(self) -> None:
        """Drop the learnt history, as after a long inactivity."""
        self.amounts = AmountStats()
        self.hours = HourStats()
        self.last_location = None
        self.recent_event_times = []
        self.last_event_time_ms = None

    def prune_velocity_window(self, now_ms: int, window_ms: int) -> None:
        """Forget event times that can no longer fall inside a window ending at ``now_ms``."""
        horizon = now_ms - window_ms
        times = self.recent_event_times
        keep_from = 0
        while keep_from < len(times) and times[keep_from] <= horizon:
            keep_from += 1
        if keep_from:
            del times[:keep_from]


# Layout v3: amounts (count, mean, m2), hours (count, sin, cos), flags, last location
# (lat, lon, time), last event time, then the velocity window as a count and int64 times, then
# with their flags the verdicts (transforms.domain.verdicts) and the blacklist change's
# effective time. v2 kept one compromise (report time, id length, UTF-8 id) where v3 keeps the
# verdicts; v1 ended at the window.
_CODEC_VERSION = 3
_CODEC_VERSIONS = (1, 2, 3)
_HEADER = struct.Struct("<B q d d q d d B d d q q H")
_COMPROMISE_V2 = struct.Struct("<q H")
_SINCE = struct.Struct("<q")
_FLAG_LOCATION = 1
_FLAG_LAST_EVENT = 2
_FLAG_VERDICTS = 4  # v2: one compromise
_FLAG_BLACKLISTED = 8
_FLAG_NOT_BLACKLISTED = 16


def encode_profile(profile: CustomerProfile) -> bytes:
    location = profile.last_location
    verdicts = profile.verdicts
    flags = (
        (_FLAG_LOCATION if location else 0)
        | (_FLAG_LAST_EVENT if profile.last_event_time_ms is not None else 0)
        | (_FLAG_VERDICTS if verdicts else 0)
        | (_FLAG_BLACKLISTED if profile.blacklisted else 0)
        | (_FLAG_NOT_BLACKLISTED if profile.blacklisted is False else 0)
    )
    times = profile.recent_event_times
    header = _HEADER.pack(
        _CODEC_VERSION,
        profile.amounts.count,
        profile.amounts.mean,
        profile.amounts.m2,
        profile.hours.count,
        profile.hours.sum_sin,
        profile.hours.sum_cos,
        flags,
        location.latitude if location else 0.0,
        location.longitude if location else 0.0,
        location.event_time_ms if location else 0,
        profile.last_event_time_ms or 0,
        len(times),
    )
    parts = [header, struct.pack(f"<{len(times)}q", *times)]
    if verdicts:
        parts.append(encode_verdicts(verdicts))
    if profile.blacklisted is not None:
        parts.append(_SINCE.pack(profile.blacklisted_since_ms or 0))
    return b"".join(parts)


def decode_profile(data: bytes) -> CustomerProfile:
    if not data or data[0] not in _CODEC_VERSIONS:
        version = data[0] if data else None
        raise ValueError(f"unknown customer profile encoding version {version}")
    (
        _,
        amount_count,
        mean,
        m2,
        hour_count,
        sum_sin,
        sum_cos,
        flags,
        latitude,
        longitude,
        location_time,
        last_event_time,
        window_size,
    ) = _HEADER.unpack_from(data)
    times = list(struct.unpack_from(f"<{window_size}q", data, _HEADER.size))
    verdicts = Verdicts()
    offset = _HEADER.size + 8 * window_size
    if flags & _FLAG_VERDICTS and data[0] == 2:
        reported_at, length = _COMPROMISE_V2.unpack_from(data, offset)
        start = offset + _COMPROMISE_V2.size
        transaction_id = data[start : start + length].decode("utf-8")
        verdicts.by_transaction[transaction_id] = Verdict(True, reported_at, reported_at)
        offset = start + length
    elif flags & _FLAG_VERDICTS:
        verdicts, offset = decode_verdicts(data, offset)
    blacklisted = (
        True if flags & _FLAG_BLACKLISTED else False if flags & _FLAG_NOT_BLACKLISTED else None
    )
    since = _SINCE.unpack_from(data, offset)[0] if blacklisted is not None else None
    return CustomerProfile(
        amounts=AmountStats(amount_count, mean, m2),
        hours=HourStats(hour_count, sum_sin, sum_cos),
        last_location=(
            LastLocation(latitude, longitude, location_time) if flags & _FLAG_LOCATION else None
        ),
        recent_event_times=times,
        last_event_time_ms=last_event_time if flags & _FLAG_LAST_EVENT else None,
        verdicts=verdicts,
        blacklisted=blacklisted,
        blacklisted_since_ms=since,
    )
