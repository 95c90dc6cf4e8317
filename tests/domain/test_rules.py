"""The rules, each a pure function of what was known before the event.

Contract: docs/architecture.md, "Rules and scoring".
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from transforms.domain.blacklist import NO_HIT, BlacklistHit
from transforms.domain.config import (
    BlacklistConfig,
    CompromisedCardConfig,
    CompromisedStoreConfig,
    HighValueConfig,
    ImpossibleTravelConfig,
    UnusualHourConfig,
    VelocityConfig,
)
from transforms.domain.events import Transaction
from transforms.domain.geo import EARTH_RADIUS_KM, haversine_km
from transforms.domain.rules import (
    blacklisted,
    compromised_card,
    compromised_store,
    high_value,
    impossible_travel,
    unusual_hour,
    velocity,
)
from transforms.domain.state import CustomerProfile, HourStats, LastLocation
from transforms.domain.store_risk import StoreRisk
from transforms.domain.verdicts import Verdict, Verdicts

NOW = 1_790_859_600_000  # 2026-10-01T13:00:00Z
MINUTE = 60_000
HOUR = 60 * MINUTE

HIGH_VALUE = HighValueConfig(enabled=True, weight=0.9, multiplier=3.0, min_transactions=5)
VELOCITY = VelocityConfig(enabled=True, weight=1.0, window_minutes=10, max_count=5)
TRAVEL = ImpossibleTravelConfig(enabled=True, weight=0.9, max_speed_kmh=500.0, min_distance_km=50.0)
UNUSUAL_HOUR = UnusualHourConfig(enabled=True, weight=0.6, std_dev_threshold=2.0, min_history=5)
BLACKLIST = BlacklistConfig(enabled=True, weight=1.0)


def transaction(
    amount: str = "100.00",
    at: int = NOW,
    latitude: float | None = None,
    longitude: float | None = None,
) -> Transaction:
    return Transaction(
        transaction_id="tx",
        customer_id="cust",
        store_id="store",
        amount=Decimal(amount),
        event_time_ms=at,
        latitude=latitude,
        longitude=longitude,
    )


def with_amounts(*amounts: float) -> CustomerProfile:
    profile = CustomerProfile()
    for amount in amounts:
        profile.amounts.add(amount)
    return profile


def with_hours(*hours: float) -> CustomerProfile:
    profile = CustomerProfile()
    for hour in hours:
        profile.hours.add(hour)
    return profile


def with_recent_events(*times: int) -> CustomerProfile:
    return CustomerProfile(recent_event_times=sorted(times))


def last_seen_at(latitude: float, longitude: float, at: int = NOW) -> CustomerProfile:
    return CustomerProfile(last_location=LastLocation(latitude, longitude, at))


def equator_km(degrees: float) -> float:
    """Great-circle length of ``degrees`` of longitude along the equator."""
    return EARTH_RADIUS_KM * math.radians(degrees)


# --- FR-001 high value ----------------------------------------------------------------------


def test_high_value_fires_above_multiplier_times_the_mean_with_the_score_formula() -> None:
    result = high_value(with_amounts(*[100.0] * 5), transaction("375.00"), HIGH_VALUE)

    assert result is not None
    assert result.rule_id == "FR-001"
    assert result.score == 0.75  # ratio 375 / (100 * 3) = 1.25; score = ratio - 0.5
    assert result.evidence == {
        "amount": "375.00",
        "customer_mean": 100.0,
        "multiplier": 3.0,
        "ratio": 1.25,
    }


def test_high_value_does_not_fire_at_a_ratio_of_exactly_one() -> None:
    assert high_value(with_amounts(*[100.0] * 5), transaction("300.00"), HIGH_VALUE) is None


def test_high_value_fires_just_above_a_ratio_of_one_with_about_half_a_point() -> None:
    result = high_value(with_amounts(*[100.0] * 5), transaction("300.01"), HIGH_VALUE)

    assert result is not None
    assert result.score == pytest.approx(300.01 / 300.0 - 0.5, rel=1e-12)


def test_high_value_does_not_fire_for_a_usual_amount() -> None:
    assert high_value(with_amounts(*[100.0] * 10), transaction("120.00"), HIGH_VALUE) is None


@pytest.mark.parametrize(
    ("amount", "score"), [("450.00", 1.0), ("3000.00", 1.0), ("420.00", 0.9), ("330.00", 0.6)]
)
def test_high_value_score_is_ratio_minus_a_half_capped_at_one(amount: str, score: float) -> None:
    result = high_value(with_amounts(*[100.0] * 5), transaction(amount), HIGH_VALUE)

    assert result is not None
    assert result.score == pytest.approx(score, abs=1e-12)
    assert result.score <= 1.0


def test_high_value_needs_history_for_a_first_event() -> None:
    assert high_value(CustomerProfile(), transaction("9999999999.99"), HIGH_VALUE) is None


def test_high_value_needs_min_transactions_prior_events() -> None:
    four = with_amounts(*[100.0] * 4)
    five = with_amounts(*[100.0] * 5)

    assert high_value(four, transaction("1000.00"), HIGH_VALUE) is None
    assert high_value(five, transaction("1000.00"), HIGH_VALUE) is not None


def test_high_value_ignores_a_non_positive_mean() -> None:
    profile = CustomerProfile()
    profile.amounts.count = 5  # only reachable through corrupt state; must not divide by zero

    assert high_value(profile, transaction("1000.00"), HIGH_VALUE) is None


def test_high_value_uses_the_configured_multiplier() -> None:
    config = HighValueConfig(enabled=True, weight=0.9, multiplier=2.0, min_transactions=5)

    result = high_value(with_amounts(*[100.0] * 5), transaction("250.00"), config)

    assert result is not None
    assert result.score == 0.75  # ratio 250 / 200 = 1.25


def test_disabled_high_value_never_fires() -> None:
    config = HighValueConfig(enabled=False, weight=0.9, multiplier=3.0, min_transactions=5)

    assert high_value(with_amounts(*[100.0] * 5), transaction("9000.00"), config) is None


# --- FR-002 velocity ------------------------------------------------------------------------


def test_velocity_rule_counts_the_current_event() -> None:
    profile = with_recent_events(*(NOW - k * MINUTE for k in range(1, 6)))

    result = velocity(profile, transaction(at=NOW), VELOCITY)

    assert result is not None
    assert result.rule_id == "FR-002"
    assert result.score == 0.2  # (6 - 5) / 5
    assert result.evidence == {"window_count": 6, "window_minutes": 10, "max_count": 5}


def test_velocity_does_not_fire_at_exactly_max_count() -> None:
    profile = with_recent_events(*(NOW - k * MINUTE for k in range(1, 5)))

    assert velocity(profile, transaction(at=NOW), VELOCITY) is None


def test_velocity_excludes_events_exactly_window_minutes_old() -> None:
    inside = [NOW - k * MINUTE for k in range(1, 5)]

    on_the_edge = with_recent_events(*inside, NOW - 10 * MINUTE)
    just_inside = with_recent_events(*inside, NOW - 10 * MINUTE + 1)

    assert velocity(on_the_edge, transaction(at=NOW), VELOCITY) is None
    assert velocity(just_inside, transaction(at=NOW), VELOCITY) is not None


def test_velocity_ignores_events_after_the_current_one() -> None:
    # a late event is judged by the window that ended at its own time
    profile = with_recent_events(*(NOW + k * MINUTE for k in range(1, 10)))

    assert velocity(profile, transaction(at=NOW), VELOCITY) is None


def test_velocity_counts_events_at_the_same_instant() -> None:
    result = velocity(with_recent_events(*[NOW] * 5), transaction(at=NOW), VELOCITY)

    assert result is not None
    assert result.evidence["window_count"] == 6


@pytest.mark.parametrize(
    ("prior", "score"), [(6, 0.4), (7, 0.6), (8, 0.8), (9, 1.0), (10, 1.0), (30, 1.0)]
)
def test_velocity_score_is_excess_over_max_count_capped_at_one(prior: int, score: float) -> None:
    profile = with_recent_events(*(NOW - k * 1000 for k in range(1, prior + 1)))

    result = velocity(profile, transaction(at=NOW), VELOCITY)

    assert result is not None
    assert result.score == pytest.approx(score, abs=1e-12)
    assert result.evidence["window_count"] == prior + 1


def test_velocity_first_event_does_not_fire() -> None:
    assert velocity(CustomerProfile(), transaction(), VELOCITY) is None


def test_velocity_with_max_count_one_fires_on_the_second_event() -> None:
    config = VelocityConfig(enabled=True, weight=1.0, window_minutes=10, max_count=1)

    assert velocity(CustomerProfile(), transaction(), config) is None
    result = velocity(with_recent_events(NOW - MINUTE), transaction(), config)
    assert result is not None
    assert result.score == 1.0


def test_velocity_window_can_be_a_fraction_of_a_minute() -> None:
    config = VelocityConfig(enabled=True, weight=1.0, window_minutes=0.5, max_count=1)
    assert config.window_ms == 30_000

    assert velocity(with_recent_events(NOW - 30_000), transaction(), config) is None
    assert velocity(with_recent_events(NOW - 29_999), transaction(), config) is not None


def test_disabled_velocity_never_fires() -> None:
    config = VelocityConfig(enabled=False, weight=1.0, window_minutes=10, max_count=5)
    profile = with_recent_events(*[NOW] * 50)

    assert velocity(profile, transaction(), config) is None


# --- FR-003 impossible travel ---------------------------------------------------------------


def test_haversine_matches_great_circle_lengths() -> None:
    assert haversine_km(0.0, 0.0, 0.0, 0.0) == 0.0
    assert haversine_km(0.0, 0.0, 0.0, 1.0) == pytest.approx(equator_km(1.0), rel=1e-12)
    assert haversine_km(0.0, 0.0, 90.0, 0.0) == pytest.approx(EARTH_RADIUS_KM * math.pi / 2)
    assert haversine_km(0.0, 0.0, 0.0, 180.0) == pytest.approx(EARTH_RADIUS_KM * math.pi)
    assert haversine_km(10.0, 170.0, 10.0, -170.0) == haversine_km(10.0, -170.0, 10.0, 170.0)


def test_impossible_travel_fires_with_speed_over_twice_the_limit_as_score() -> None:
    # one degree along the equator (111.19 km) in 10 minutes: 667.2 km/h
    profile = last_seen_at(0.0, 0.0, NOW - 10 * MINUTE)

    result = impossible_travel(profile, transaction(latitude=0.0, longitude=1.0), TRAVEL)

    speed = equator_km(1.0) * 6.0
    assert result is not None
    assert result.rule_id == "FR-003"
    assert result.score == pytest.approx(speed / 1000.0, rel=1e-12)
    assert result.evidence == {
        "distance_km": 111.2,
        "elapsed_minutes": 10.0,
        "speed_kmh": 667.2,
        "max_speed_kmh": 500.0,
    }


def test_impossible_travel_does_not_fire_at_a_possible_speed() -> None:
    profile = last_seen_at(0.0, 0.0, NOW - HOUR)  # 111 km in an hour

    assert impossible_travel(profile, transaction(latitude=0.0, longitude=1.0), TRAVEL) is None


def test_impossible_travel_does_not_fire_at_exactly_max_speed() -> None:
    distance = haversine_km(0.0, 0.0, 0.0, 1.0)
    config = ImpossibleTravelConfig(
        enabled=True, weight=0.9, max_speed_kmh=distance / 0.25, min_distance_km=50.0
    )
    profile = last_seen_at(0.0, 0.0, NOW - 15 * MINUTE)

    assert impossible_travel(profile, transaction(latitude=0.0, longitude=1.0), config) is None


def test_impossible_travel_does_not_fire_at_exactly_min_distance() -> None:
    distance = haversine_km(0.0, 0.0, 0.0, 1.0)
    at_limit = ImpossibleTravelConfig(
        enabled=True, weight=0.9, max_speed_kmh=500.0, min_distance_km=distance
    )
    below = ImpossibleTravelConfig(
        enabled=True, weight=0.9, max_speed_kmh=500.0, min_distance_km=distance - 0.001
    )
    profile = last_seen_at(0.0, 0.0, NOW)  # same instant: infinite speed
    event = transaction(latitude=0.0, longitude=1.0)

    assert impossible_travel(profile, event, at_limit) is None
    assert impossible_travel(profile, event, below) is not None


def test_impossible_travel_ignores_short_hops_even_at_the_same_instant() -> None:
    # 0.4 degrees is about 44 km, under the 50 km minimum distance
    profile = last_seen_at(0.0, 0.0, NOW)

    assert impossible_travel(profile, transaction(latitude=0.0, longitude=0.4), TRAVEL) is None


def test_same_instant_far_apart_counts_as_infinite_speed() -> None:
    profile = last_seen_at(-23.55, -46.63, NOW)  # Sao Paulo

    result = impossible_travel(profile, transaction(latitude=-3.72, longitude=-38.54), TRAVEL)

    assert result is not None
    assert result.score == 1.0
    assert result.evidence["speed_kmh"] is None
    assert result.evidence["elapsed_minutes"] == 0.0
    assert result.evidence["distance_km"] > 2000.0


def test_same_place_same_instant_does_not_fire() -> None:
    profile = last_seen_at(-23.55, -46.63, NOW)

    assert (
        impossible_travel(profile, transaction(latitude=-23.55, longitude=-46.63), TRAVEL) is None
    )


def test_impossible_travel_score_saturates_at_twice_max_speed() -> None:
    profile = last_seen_at(0.0, 0.0, NOW - HOUR)  # 20 degrees in an hour: about 2224 km/h

    result = impossible_travel(profile, transaction(latitude=0.0, longitude=20.0), TRAVEL)

    assert result is not None
    assert result.score == 1.0
    assert result.evidence["speed_kmh"] == round(equator_km(20.0), 1)


def test_impossible_travel_uses_elapsed_time_either_way_for_a_late_event() -> None:
    profile = last_seen_at(0.0, 0.0, NOW + 10 * MINUTE)  # the last location is newer

    result = impossible_travel(profile, transaction(latitude=0.0, longitude=1.0), TRAVEL)

    assert result is not None
    assert result.evidence["elapsed_minutes"] == 10.0


@pytest.mark.parametrize(
    "event",
    [transaction(), transaction(latitude=None, longitude=10.0), transaction(latitude=10.0)],
    ids=["no-coordinates", "no-latitude", "no-longitude"],
)
def test_impossible_travel_needs_coordinates_on_the_event(event: Transaction) -> None:
    assert impossible_travel(last_seen_at(0.0, 0.0, NOW - MINUTE), event, TRAVEL) is None


def test_impossible_travel_needs_a_last_location() -> None:
    event = transaction(latitude=0.0, longitude=90.0)

    assert impossible_travel(CustomerProfile(), event, TRAVEL) is None


def test_disabled_impossible_travel_never_fires() -> None:
    config = ImpossibleTravelConfig(
        enabled=False, weight=0.9, max_speed_kmh=500.0, min_distance_km=50.0
    )
    event = transaction(latitude=0.0, longitude=90.0)

    assert impossible_travel(last_seen_at(0.0, 0.0, NOW), event, config) is None


# --- FR-004 unusual hour --------------------------------------------------------------------

AROUND_MIDNIGHT = (23.0, 23.5, 0.0, 0.5, 1.0)


def around_midnight_std() -> float:
    """Circular std of AROUND_MIDNIGHT, from the resultant length R = mean cos(angle)."""
    resultant = (1.0 + 2.0 * math.cos(math.pi / 24.0) + 2.0 * math.cos(math.pi / 12.0)) / 5.0
    return math.sqrt(-2.0 * math.log(resultant)) / (2.0 * math.pi) * 24.0


def test_unusual_hour_does_not_fire_near_usual_hours_across_midnight() -> None:
    profile = with_hours(*AROUND_MIDNIGHT)

    assert unusual_hour(profile, 0.5, UNUSUAL_HOUR) is None
    assert unusual_hour(profile, 23.25, UNUSUAL_HOUR) is None


def test_unusual_hour_fires_at_noon_for_a_night_owl() -> None:
    result = unusual_hour(with_hours(*AROUND_MIDNIGHT), 12.0, UNUSUAL_HOUR)

    assert result is not None
    assert result.rule_id == "FR-004"
    assert result.score == 1.0
    assert result.evidence["hour"] == 12.0
    assert result.evidence["z"] == round(12.0 / around_midnight_std(), 3)


def test_unusual_hour_score_is_z_excess_over_the_threshold() -> None:
    std = around_midnight_std()
    z = 2.0 / std  # 02:00 is two hours from the usual midnight

    result = unusual_hour(with_hours(*AROUND_MIDNIGHT), 2.0, UNUSUAL_HOUR)

    assert 2.0 < z < 4.0
    assert result is not None
    assert result.score == pytest.approx((z - 2.0) / 2.0, rel=1e-9)
    assert result.evidence["std_hours"] == round(std, 3)
    assert result.evidence["z"] == round(z, 3)
    assert result.evidence["usual_hour"] in (0.0, 24.0)


def test_unusual_hour_does_not_fire_at_exactly_the_threshold() -> None:
    profile = with_hours(*AROUND_MIDNIGHT)
    z = profile.hours.distance_hours(2.0) / profile.hours.std_hours
    config = UnusualHourConfig(enabled=True, weight=0.6, std_dev_threshold=z, min_history=5)

    assert unusual_hour(profile, 2.0, config) is None


def test_unusual_hour_needs_min_history() -> None:
    assert unusual_hour(with_hours(*AROUND_MIDNIGHT[:4]), 12.0, UNUSUAL_HOUR) is None
    assert unusual_hour(CustomerProfile(), 12.0, UNUSUAL_HOUR) is None


def test_unusual_hour_does_not_fire_without_spread() -> None:
    # always at 22:00: any other hour would be an infinite z, which says nothing
    assert unusual_hour(with_hours(*[22.0] * 20), 10.0, UNUSUAL_HOUR) is None


def test_unusual_hour_does_not_fire_when_hours_cancel_out() -> None:
    hour = 0.09694444444444444  # with hour + 12, sums to an exactly zero resultant
    profile = with_hours(*[hour, hour + 12.0] * 3)
    assert (profile.hours.sum_sin, profile.hours.sum_cos) == (0.0, 0.0)

    assert unusual_hour(profile, 6.0, UNUSUAL_HOUR) is None


def test_disabled_unusual_hour_never_fires() -> None:
    config = UnusualHourConfig(enabled=False, weight=0.6, std_dev_threshold=2.0, min_history=5)

    assert unusual_hour(with_hours(*AROUND_MIDNIGHT), 12.0, config) is None


def test_unusual_hour_reads_only_the_hour_statistics() -> None:
    profile = CustomerProfile(hours=HourStats())
    for hour in AROUND_MIDNIGHT:
        profile.hours.add(hour)

    assert profile.amounts.count == 0
    assert unusual_hour(profile, 12.0, UNUSUAL_HOUR) is not None


# --- FR-005 blacklist -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "hit", [BlacklistHit(customer=True), BlacklistHit(store=True), BlacklistHit(True, True)]
)
def test_blacklist_fires_with_full_score_for_a_customer_or_store_hit(hit: BlacklistHit) -> None:
    result = blacklisted(hit, BLACKLIST)

    assert result is not None
    assert result.rule_id == "FR-005"
    assert result.score == 1.0
    assert result.evidence == {"customer_blacklisted": hit.customer, "store_blacklisted": hit.store}


def test_blacklist_does_not_fire_without_a_hit() -> None:
    assert blacklisted(NO_HIT, BLACKLIST) is None


def test_disabled_blacklist_never_fires() -> None:
    assert blacklisted(BlacklistHit(True, True), BlacklistConfig(enabled=False, weight=1.0)) is None


# --- FR-007 compromised store ---------------------------------------------------------------

STORE = CompromisedStoreConfig(
    enabled=True,
    weight=0.9,
    window_days=7,
    min_fraud_rate=0.2,
    min_transactions=10,
    min_frauds=2,
)


def store_risk(seen_7d: int, frauds_7d: int) -> StoreRisk:
    return StoreRisk((0, seen_7d, seen_7d), (0, frauds_7d, frauds_7d))


def test_compromised_store_fires_at_the_threshold_rate_with_its_evidence() -> None:
    result = compromised_store(store_risk(40, 8), STORE)

    assert result is not None
    assert result.rule_id == "FR-007"
    assert result.score == pytest.approx(0.5)
    assert result.evidence == {
        "window_days": 7,
        "store_transactions": 40,
        "store_frauds_reported": 8,
        "store_fraud_rate": 0.2,
        "min_fraud_rate": 0.2,
    }


@pytest.mark.parametrize(("frauds", "score"), [(12, 0.75), (16, 1.0), (40, 1.0)])
def test_compromised_store_score_grows_to_one_at_twice_the_rate(frauds: int, score: float) -> None:
    result = compromised_store(store_risk(40, frauds), STORE)

    assert result is not None
    assert result.score == pytest.approx(score)


@pytest.mark.parametrize(
    ("seen", "frauds"),
    [(40, 7), (9, 5), (10, 1), (0, 3)],
    ids=["rate-below", "too-few-transactions", "too-few-frauds", "no-volume"],
)
def test_compromised_store_needs_rate_volume_and_frauds(seen: int, frauds: int) -> None:
    assert compromised_store(store_risk(seen, frauds), STORE) is None


def test_compromised_store_reads_its_configured_window() -> None:
    one_day = CompromisedStoreConfig(True, 0.9, 1, 0.2, 10, 2)
    busy_day = StoreRisk((10, 100, 100), (5, 5, 5))

    assert compromised_store(busy_day, STORE) is None  # 5 of 100 over 7 days
    fired = compromised_store(busy_day, one_day)
    assert fired is not None
    assert fired.evidence["store_fraud_rate"] == 0.5


def test_disabled_compromised_store_never_fires() -> None:
    assert (
        compromised_store(store_risk(10, 10), CompromisedStoreConfig(False, 0.9, 7, 0.2, 1, 1))
        is None
    )


# --- FR-008 known compromised card ------------------------------------------------------------

CARD = CompromisedCardConfig(enabled=True, weight=0.8, active_days=30)
DAY = 24 * HOUR


def reported(days_before: float) -> CustomerProfile:
    reported_at = NOW - int(days_before * DAY)
    return CustomerProfile(verdicts=Verdicts({"tx-fraud": Verdict(True, reported_at, reported_at)}))


def test_compromised_card_fires_after_a_report_with_which_transaction_and_when() -> None:
    result = compromised_card(reported(3), transaction(), CARD)

    assert result is not None
    assert result.rule_id == "FR-008"
    assert result.score == pytest.approx(0.95)
    assert result.evidence == {
        "confirmed_transaction_id": "tx-fraud",
        "reported_at": "2026-09-28T13:00:00.000Z",
        "days_since_report": 3.0,
    }


@pytest.mark.parametrize(("days", "score"), [(0, 1.0), (15, 0.75), (30, 0.5)])
def test_compromised_card_score_falls_to_a_half_over_the_active_period(
    days: float, score: float
) -> None:
    result = compromised_card(reported(days), transaction(), CARD)

    assert result is not None
    assert result.score == pytest.approx(score)


def test_compromised_card_is_silent_before_the_report_and_after_the_period() -> None:
    assert compromised_card(reported(-0.001), transaction(), CARD) is None
    assert compromised_card(reported(30.01), transaction(), CARD) is None
    assert compromised_card(CustomerProfile(), transaction(), CARD) is None


def test_disabled_compromised_card_never_fires() -> None:
    disabled = CompromisedCardConfig(enabled=False, weight=0.8, active_days=30)

    assert compromised_card(reported(1), transaction(), disabled) is None
