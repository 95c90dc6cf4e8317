"""The anomaly model's features, computed from a customer's history *before* an event.

Pure Python, shared by training (``ml.replay`` replays history through the domain's
``FraudDetector``) and serving (the detector computes them while judging each event), so the
two can never drift. All features are finite floats; edge cases map to the value a customer
with an ordinary history would have, so a first event is not an anomaly by construction.

============== ===========================================================================
feature        formula (history = the customer's profile before this event)
============== ===========================================================================
amount_zscore  ``(amount - mean) / std`` with Welford's sample std; 0 with fewer than two
               prior events or zero spread
velocity_count events of the customer in the velocity window ending at this event, this
               event included (FR-002's count); 1 for a first event
time_deviation circular distance (hours) between the local hour and the usual hour, divided
               by the circular std; with zero spread, the distance itself; 0 with fewer than
               two prior events; capped at ``MAX_TIME_DEVIATION``
geo_speed_kmh  great-circle distance from the last located event divided by the elapsed
               time; 0 without a previous location or without coordinates on this event;
               a jump at the same instant (or faster than ``MAX_SPEED_KMH``) is capped there
is_blacklisted 1 if the customer or the store was on the blacklist, else 0
amount_ratio   ``amount / mean`` of prior amounts; 1 without history
============== ===========================================================================

Besides these six, which the Isolation Forest was trained on, a scored record carries its
store's counts just before it (:func:`store_features`: transactions, frauds reported and their
ratio over each store window), for models that learn from confirmed fraud.
"""

from __future__ import annotations

import math
from typing import Any

from transforms.domain.blacklist import BlacklistHit
from transforms.domain.config import RULE_IDS
from transforms.domain.events import Transaction
from transforms.domain.geo import haversine_km
from transforms.domain.state import CustomerProfile
from transforms.domain.store_risk import WINDOW_DAYS, StoreRisk

FEATURE_NAMES = (
    "amount_zscore",
    "velocity_count",
    "time_deviation",
    "geo_speed_kmh",
    "is_blacklisted",
    "amount_ratio",
)
MAX_SPEED_KMH = 20_000.0  # faster than any aircraft: beyond it, speed is just "impossible"
MAX_TIME_DEVIATION = 12.0
_MILLIS_PER_HOUR = 3_600_000.0

Features = tuple[float, float, float, float, float, float]
STORE_FEATURE_NAMES = tuple(
    f"store_{measure}_{days}d"
    for days in WINDOW_DAYS
    for measure in ("transactions", "frauds", "fraud_rate")
)


# What a supervised model reads of a scored record: the anomaly features, the store's counts,
# and the score of every rule (0 when it did not fire), so that the weights of the rules come
# from the labels.
RULE_FEATURE_PREFIX = "rule_"
SUPERVISED_FEATURE_NAMES = (
    *FEATURE_NAMES,
    *STORE_FEATURE_NAMES,
    *(RULE_FEATURE_PREFIX + rule_id for rule_id in RULE_IDS),
)


def model_inputs(record: dict[str, Any], names: tuple[str, ...]) -> list[float]:
    """A scored record's values for ``names``: its ``ml_features`` and, for ``rule_<id>``,
    that rule's score in ``rule_details`` (0 if it did not fire). A store count the record
    lacks (scored by an earlier release) is 0; a missing anomaly feature is an error."""
    features, details = record["ml_features"], record["rule_details"]
    values = []
    for name in names:
        if name.startswith(RULE_FEATURE_PREFIX):
            fired = details.get(name[len(RULE_FEATURE_PREFIX) :])
            values.append(float(fired["score"]) if fired else 0.0)
        elif name in STORE_FEATURE_NAMES:
            values.append(float(features.get(name, 0.0)))
        else:
            values.append(float(features[name]))
    return values


def named_features(features: Features) -> dict[str, float]:
    """The features by name, as a scored record carries them (``ml_features``)."""
    return dict(zip(FEATURE_NAMES, features, strict=True))


def store_features(risk: StoreRisk) -> dict[str, float]:
    """The store's counts by name, in :data:`STORE_FEATURE_NAMES` order."""
    values: list[float] = []
    for window in range(len(WINDOW_DAYS)):
        values += (
            float(risk.transactions[window]),
            float(risk.frauds[window]),
            round(risk.rate(window), 6),
        )
    return dict(zip(STORE_FEATURE_NAMES, values, strict=True))


def extract_features(
    profile: CustomerProfile,
    event: Transaction,
    local_hour: float,
    blacklist_hit: BlacklistHit,
    velocity_window_ms: int,
) -> Features:
    amount = float(event.amount)
    stats = profile.amounts
    std = stats.std
    amount_zscore = (amount - stats.mean) / std if stats.count >= 2 and std > 0 else 0.0
    amount_ratio = amount / stats.mean if stats.count >= 1 and stats.mean > 0 else 1.0

    now = event.event_time_ms
    window_start = now - velocity_window_ms
    velocity_count = 1 + sum(1 for seen in profile.recent_event_times if window_start < seen <= now)

    return (
        amount_zscore,
        float(velocity_count),
        _time_deviation(profile, local_hour),
        _geo_speed(profile, event),
        1.0 if blacklist_hit.any else 0.0,
        amount_ratio,
    )


def _time_deviation(profile: CustomerProfile, local_hour: float) -> float:
    hours = profile.hours
    if hours.count < 2:
        return 0.0
    distance = hours.distance_hours(local_hour)
    spread = hours.std_hours
    if spread == 0.0:
        return min(distance, MAX_TIME_DEVIATION)
    if not math.isfinite(spread):
        return 0.0  # opposite hours cancelled out: no usual hour to deviate from
    return min(distance / spread, MAX_TIME_DEVIATION)


def _geo_speed(profile: CustomerProfile, event: Transaction) -> float:
    last = profile.last_location
    if last is None or event.latitude is None or event.longitude is None:
        return 0.0
    distance = haversine_km(last.latitude, last.longitude, event.latitude, event.longitude)
    if distance == 0.0:
        return 0.0
    elapsed_hours = abs(event.event_time_ms - last.event_time_ms) / _MILLIS_PER_HOUR
    if elapsed_hours == 0.0:
        return MAX_SPEED_KMH
    return min(distance / elapsed_hours, MAX_SPEED_KMH)
