"""The six anomaly-model features and their edge cases (transforms/domain/features.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from transforms.domain.blacklist import NO_HIT, BlacklistHit
from transforms.domain.events import Transaction
from transforms.domain.features import (
    FEATURE_NAMES,
    MAX_SPEED_KMH,
    MAX_TIME_DEVIATION,
    extract_features,
    named_features,
)
from transforms.domain.state import CustomerProfile, LastLocation

WINDOW_MS = 10 * 60_000
T0 = 1_790_000_000_000


def _event(
    amount: str = "100.00", at: int = T0, where: tuple[float, float] | None = (0.0, 0.0)
) -> Transaction:
    return Transaction(
        transaction_id="t",
        customer_id="c",
        store_id="s",
        amount=Decimal(amount),
        event_time_ms=at,
        latitude=where[0] if where else None,
        longitude=where[1] if where else None,
    )


def _features(
    profile: CustomerProfile, event: Transaction, hour: float = 12.0, hit: BlacklistHit = NO_HIT
) -> dict[str, float]:
    return dict(
        zip(FEATURE_NAMES, extract_features(profile, event, hour, hit, WINDOW_MS), strict=True)
    )


def _history(amounts: list[float], hours: list[float]) -> CustomerProfile:
    profile = CustomerProfile()
    for amount in amounts:
        profile.amounts.add(amount)
    for hour in hours:
        profile.hours.add(hour)
    return profile


def test_first_event_looks_ordinary() -> None:
    assert _features(CustomerProfile(), _event()) == {
        "amount_zscore": 0.0,
        "velocity_count": 1.0,
        "time_deviation": 0.0,
        "geo_speed_kmh": 0.0,
        "is_blacklisted": 0.0,
        "amount_ratio": 1.0,
    }


def test_amount_zscore_and_ratio_use_the_prior_amounts() -> None:
    features = _features(_history([10.0, 20.0, 30.0], []), _event("60.00"))
    assert features["amount_zscore"] == pytest.approx((60 - 20) / 10)
    assert features["amount_ratio"] == pytest.approx(3.0)


def test_zero_spread_of_amounts_gives_zero_zscore_but_a_ratio() -> None:
    features = _features(_history([50.0, 50.0], []), _event("500.00"))
    assert features["amount_zscore"] == 0.0
    assert features["amount_ratio"] == pytest.approx(10.0)


def test_time_deviation_wraps_midnight_and_uses_the_circular_spread() -> None:
    profile = _history([], [23.0, 1.0, 23.5, 0.5])
    assert _features(profile, _event(), hour=0.0)["time_deviation"] < 0.5
    assert _features(profile, _event(), hour=12.0)["time_deviation"] == MAX_TIME_DEVIATION


def test_zero_spread_of_hours_gives_the_distance_in_hours() -> None:
    profile = _history([], [9.0, 9.0, 9.0])
    assert _features(profile, _event(), hour=12.0)["time_deviation"] == pytest.approx(3.0)


def test_geo_speed_from_the_last_location() -> None:
    profile = CustomerProfile(last_location=LastLocation(0.0, 0.0, T0 - 3_600_000))
    speed = _features(profile, _event(where=(0.0, 1.0)))["geo_speed_kmh"]
    assert speed == pytest.approx(111.19, rel=1e-3)  # one degree of longitude at the equator


def test_same_instant_jump_is_capped_and_missing_coordinates_give_zero() -> None:
    profile = CustomerProfile(last_location=LastLocation(0.0, 0.0, T0))
    assert _features(profile, _event(where=(10.0, 10.0)))["geo_speed_kmh"] == MAX_SPEED_KMH
    assert _features(profile, _event(where=None))["geo_speed_kmh"] == 0.0
    assert _features(CustomerProfile(), _event(where=(10.0, 10.0)))["geo_speed_kmh"] == 0.0


def test_velocity_count_includes_the_current_event_and_only_the_window() -> None:
    profile = CustomerProfile(recent_event_times=[T0 - WINDOW_MS, T0 - 60_000, T0 - 1])
    assert _features(profile, _event())["velocity_count"] == 3.0


def test_blacklist_flag() -> None:
    assert (
        _features(CustomerProfile(), _event(), hit=BlacklistHit(store=True))["is_blacklisted"]
        == 1.0
    )


def test_named_features_are_in_the_model_s_order() -> None:
    values = (0.5, 2.0, 1.5, 30.0, 0.0, 1.2)
    named = named_features(values)
    assert list(named) == list(FEATURE_NAMES)
    assert tuple(named.values()) == values
