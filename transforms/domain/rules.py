"""The fraud rules, each a pure function of what was known *before* the event.

Contract: docs/architecture.md, "Rules and scoring".

Each rule returns ``None`` when it does not fire (or is disabled), else a :class:`RuleResult`
with a score in (0, 1] and the evidence an analyst needs to judge the alert without
re-running anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from transforms.domain.blacklist import BlacklistHit
from transforms.domain.config import (
    BlacklistConfig,
    CompromisedCardConfig,
    CompromisedStoreConfig,
    HighValueConfig,
    ImpossibleTravelConfig,
    UnusualHourConfig,
    VelocityConfig,
)
from transforms.domain.event_time import format_utc
from transforms.domain.events import Transaction
from transforms.domain.geo import haversine_km
from transforms.domain.state import CustomerProfile
from transforms.domain.store_risk import StoreRisk, window_index

_MILLIS_PER_HOUR = 3_600_000.0
_MILLIS_PER_DAY = 86_400_000.0


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule_id: str
    score: float
    evidence: dict[str, Any]


def high_value(
    profile: CustomerProfile, event: Transaction, config: HighValueConfig
) -> RuleResult | None:
    """FR-001: the amount is more than ``multiplier`` times the customer's usual amount."""
    stats = profile.amounts
    if not config.enabled or stats.count < config.min_transactions or stats.mean <= 0:
        return None
    ratio = float(event.amount) / (stats.mean * config.multiplier)
    if ratio <= 1.0:
        return None
    return RuleResult(
        "FR-001",
        min(1.0, ratio - 0.5),
        {
            "amount": str(event.amount),
            "customer_mean": round(stats.mean, 2),
            "multiplier": config.multiplier,
            "ratio": round(ratio, 4),
        },
    )


def velocity(
    profile: CustomerProfile, event: Transaction, config: VelocityConfig
) -> RuleResult | None:
    """FR-002: more than ``max_count`` events in the window ending at this one (included)."""
    if not config.enabled:
        return None
    now = event.event_time_ms
    window_start = now - config.window_ms
    prior = sum(1 for seen in profile.recent_event_times if window_start < seen <= now)
    count = prior + 1
    if count <= config.max_count:
        return None
    return RuleResult(
        "FR-002",
        min(1.0, (count - config.max_count) / config.max_count),
        {
            "window_count": count,
            "window_minutes": config.window_minutes,
            "max_count": config.max_count,
        },
    )


def impossible_travel(
    profile: CustomerProfile, event: Transaction, config: ImpossibleTravelConfig
) -> RuleResult | None:
    """FR-003: too far from the last known location to have travelled there in time.

    Two far-apart events at the same instant count as infinite speed.
    """
    last = profile.last_location
    if not config.enabled or last is None or event.latitude is None or event.longitude is None:
        return None
    distance_km = haversine_km(last.latitude, last.longitude, event.latitude, event.longitude)
    if distance_km <= config.min_distance_km:
        return None
    elapsed_hours = abs(event.event_time_ms - last.event_time_ms) / _MILLIS_PER_HOUR
    speed_kmh = distance_km / elapsed_hours if elapsed_hours > 0 else math.inf
    if speed_kmh <= config.max_speed_kmh:
        return None
    return RuleResult(
        "FR-003",
        min(1.0, speed_kmh / (2.0 * config.max_speed_kmh)),
        {
            "distance_km": round(distance_km, 1),
            "elapsed_minutes": round(elapsed_hours * 60.0, 2),
            # JSON has no infinity: a same-instant jump is reported as null speed
            "speed_kmh": round(speed_kmh, 1) if math.isfinite(speed_kmh) else None,
            "max_speed_kmh": config.max_speed_kmh,
        },
    )


def unusual_hour(
    profile: CustomerProfile, local_hour: float, config: UnusualHourConfig
) -> RuleResult | None:
    """FR-004: the local hour is far, on the 24-hour circle, from the customer's usual hours."""
    hours = profile.hours
    if not config.enabled or hours.count < config.min_history:
        return None
    spread = hours.std_hours
    if spread <= 0.0:
        return None
    z = hours.distance_hours(local_hour) / spread
    if z <= config.std_dev_threshold:
        return None
    return RuleResult(
        "FR-004",
        min(1.0, (z - config.std_dev_threshold) / config.std_dev_threshold),
        {
            "hour": round(local_hour, 2),
            "usual_hour": round(hours.mean_hour, 2),
            "std_hours": round(spread, 3),
            "z": round(z, 3),
        },
    )


def blacklisted(hit: BlacklistHit, config: BlacklistConfig) -> RuleResult | None:
    """FR-005: the customer or the store was on the blacklist when the event was checked.

    The check happens where the blacklist is at hand (a side input in Beam is only readable
    while processing an element, not in timer callbacks), so the rule takes its outcome.
    """
    if not config.enabled or not hit.any:
        return None
    return RuleResult(
        "FR-005", 1.0, {"customer_blacklisted": hit.customer, "store_blacklisted": hit.store}
    )


def compromised_store(risk: StoreRisk, config: CompromisedStoreConfig) -> RuleResult | None:
    """FR-007: the store's confirmed frauds per transaction over the window reach
    ``min_fraud_rate``, with at least ``min_transactions`` seen and ``min_frauds`` reported.

    The score grows from 0.5 at the threshold rate to 1.0 at twice it.
    """
    if not config.enabled:
        return None
    window = window_index(config.window_days)
    seen, frauds = risk.transactions[window], risk.frauds[window]
    if seen < config.min_transactions or frauds < config.min_frauds:
        return None
    rate = risk.rate(window)
    if rate < config.min_fraud_rate:
        return None
    return RuleResult(
        "FR-007",
        min(1.0, 0.5 * rate / config.min_fraud_rate),
        {
            "window_days": config.window_days,
            "store_transactions": seen,
            "store_frauds_reported": frauds,
            "store_fraud_rate": round(rate, 4),
            "min_fraud_rate": config.min_fraud_rate,
        },
    )


def compromised_card(
    profile: CustomerProfile, event: Transaction, config: CompromisedCardConfig
) -> RuleResult | None:
    """FR-008: a fraud on this card was confirmed at most ``active_days`` before the event,
    and not withdrawn since (the latest such report is the evidence).

    The score falls linearly from 1.0 at the report to 0.5 at the end of the period: a card
    reported yesterday is more suspect than one reported a month ago.
    """
    if not config.enabled:
        return None
    compromise = profile.verdicts.latest_fraud(at_ms=event.event_time_ms)
    if compromise is None:
        return None
    elapsed = event.event_time_ms - compromise.since_ms
    if elapsed > config.active_ms:
        return None
    return RuleResult(
        "FR-008",
        1.0 - 0.5 * elapsed / config.active_ms,
        {
            "confirmed_transaction_id": compromise.transaction_id,
            "reported_at": format_utc(compromise.since_ms),
            "days_since_report": round(elapsed / _MILLIS_PER_DAY, 2),
        },
    )
