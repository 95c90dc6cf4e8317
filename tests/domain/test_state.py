"""Per-customer history: Welford amounts, circular hours, and the versioned codec.

Contract: docs/architecture.md, "Per-customer state and event-time order".
"""

from __future__ import annotations

import math
import statistics
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.domain.state import (
    AmountStats,
    CustomerProfile,
    HourStats,
    LastLocation,
    decode_profile,
    encode_profile,
)
from transforms.domain.verdicts import ConfirmedFraud, Verdict, Verdicts

amounts = st.floats(min_value=0.01, max_value=1e7, allow_nan=False)


# --- amount statistics (Welford) ------------------------------------------------------------


def test_empty_amount_stats_have_zero_mean_and_std() -> None:
    stats = AmountStats()

    assert (stats.count, stats.mean, stats.std) == (0, 0.0, 0.0)


def test_one_amount_has_its_own_mean_and_zero_std() -> None:
    stats = AmountStats()
    stats.add(42.5)

    assert (stats.count, stats.mean, stats.std) == (1, 42.5, 0.0)


def test_amount_stats_match_a_hand_computed_sample() -> None:
    stats = AmountStats()
    for amount in (2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0):
        stats.add(amount)

    assert stats.count == 8
    assert stats.mean == 5.0
    assert stats.m2 == 32.0
    assert stats.std == pytest.approx(math.sqrt(32.0 / 7.0), rel=1e-15)


@given(st.lists(amounts, min_size=1, max_size=50))
def test_welford_mean_matches_statistics_mean(values: list[float]) -> None:
    stats = AmountStats()
    for value in values:
        stats.add(value)

    assert stats.count == len(values)
    assert stats.mean == pytest.approx(statistics.mean(values), rel=1e-9)


@given(st.lists(amounts, min_size=2, max_size=50))
def test_welford_std_matches_statistics_stdev(values: list[float]) -> None:
    stats = AmountStats()
    for value in values:
        stats.add(value)

    assert stats.std == pytest.approx(statistics.stdev(values), rel=1e-6, abs=1e-6)


# --- hour-of-day statistics on the circle ---------------------------------------------------


def hours_of(*hours: float) -> HourStats:
    stats = HourStats()
    for hour in hours:
        stats.add(hour)
    return stats


def clock_gap(a: float, b: float) -> float:
    gap = abs(a - b) % 24.0
    return min(gap, 24.0 - gap)


def test_half_past_eleven_and_half_past_midnight_average_to_midnight() -> None:
    stats = hours_of(23.5, 0.5)

    assert clock_gap(stats.mean_hour, 0.0) == pytest.approx(0.0, abs=1e-9)
    assert stats.distance_hours(0.0) == pytest.approx(0.0, abs=1e-9)


def test_half_past_eleven_and_half_past_midnight_are_one_hour_apart() -> None:
    assert hours_of(23.5).distance_hours(0.5) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize(
    ("usual", "hour", "distance"),
    [(23.0, 1.0, 2.0), (1.0, 23.0, 2.0), (23.0, 11.0, 12.0), (23.0, 12.0, 11.0), (6.0, 6.0, 0.0)],
)
def test_distance_wraps_at_midnight(usual: float, hour: float, distance: float) -> None:
    assert hours_of(usual).distance_hours(hour) == pytest.approx(distance, abs=1e-9)


def test_mean_hour_is_in_the_day() -> None:
    for hours in ((22.0, 23.0), (1.0, 2.0), (11.0, 13.0)):
        assert 0.0 <= hours_of(*hours).mean_hour < 24.0
    assert hours_of(22.0, 23.0).mean_hour == pytest.approx(22.5, abs=1e-9)


@pytest.mark.parametrize(("hour", "count"), [(13.25, 10), (10.0, 10), (22.0, 20)])
def test_identical_hours_have_zero_std(hour: float, count: int) -> None:
    # float rounding leaves the resultant length a hair under 1 for some of these
    assert hours_of(*[hour] * count).std_hours == 0.0


def test_empty_hour_stats_have_zero_std() -> None:
    assert HourStats().std_hours == 0.0


def test_circular_std_follows_the_resultant_length_formula() -> None:
    # two hours one hour apart: R = cos(half the angle between them)
    resultant = math.cos(math.pi / 24.0)
    expected = math.sqrt(-2.0 * math.log(resultant)) / (2.0 * math.pi) * 24.0

    assert hours_of(10.0, 11.0).std_hours == pytest.approx(expected, rel=1e-9)
    assert hours_of(23.5, 0.5).std_hours == pytest.approx(expected, rel=1e-9)


def test_hours_that_cancel_out_exactly_have_infinite_std() -> None:
    # sin/cos of these opposite hours sum to exactly 0.0: no usual hour at all
    hour = 0.09694444444444444  # 00:05:49
    stats = hours_of(hour, hour + 12.0)
    assert (stats.sum_sin, stats.sum_cos) == (0.0, 0.0)

    assert stats.std_hours == math.inf


# --- the profile and its codec --------------------------------------------------------------


def test_new_profile_is_empty() -> None:
    profile = CustomerProfile()

    assert profile.is_empty
    assert profile.last_location is None
    assert profile.recent_event_times == []


def test_profile_with_an_event_is_not_empty() -> None:
    profile = CustomerProfile()
    profile.amounts.add(10.0)

    assert not profile.is_empty
    assert not CustomerProfile(last_event_time_ms=0).is_empty


finite = st.floats(allow_nan=False, allow_infinity=False)
millis = st.integers(-(2**63), 2**63 - 1)


@st.composite
def profiles(draw: st.DrawFn) -> CustomerProfile:
    location = draw(
        st.none()
        | st.builds(
            LastLocation,
            st.floats(-90, 90, allow_nan=False),
            st.floats(-180, 180, allow_nan=False),
            millis,
        )
    )
    return CustomerProfile(
        amounts=AmountStats(draw(st.integers(0, 2**63 - 1)), draw(finite), draw(finite)),
        hours=HourStats(draw(st.integers(0, 2**63 - 1)), draw(finite), draw(finite)),
        last_location=location,
        recent_event_times=sorted(draw(st.lists(millis, max_size=20))),
        last_event_time_ms=draw(st.none() | millis),
        verdicts=Verdicts(
            draw(
                st.dictionaries(
                    st.text(max_size=40), st.builds(Verdict, st.booleans(), millis, millis)
                )
            )
        ),
        # A blacklist override always comes with the effective time of its change.
        **draw(
            st.just({})
            | st.fixed_dictionaries({"blacklisted": st.booleans(), "blacklisted_since_ms": millis})
        ),
    )


@given(profiles())
def test_profile_encoding_round_trips(profile: CustomerProfile) -> None:
    encoded = encode_profile(profile)

    assert decode_profile(encoded) == profile
    assert encode_profile(decode_profile(encoded)) == encoded


def test_profile_round_trip_keeps_none_location_and_the_velocity_window() -> None:
    profile = CustomerProfile(recent_event_times=[1_000, 2_000, 3_000], last_event_time_ms=3_000)
    profile.amounts.add(10.0)
    profile.hours.add(10.0)

    decoded = decode_profile(encode_profile(profile))

    assert decoded.last_location is None
    assert decoded.recent_event_times == [1_000, 2_000, 3_000]
    assert decoded == profile


def test_zero_times_and_the_null_island_location_survive_encoding() -> None:
    # flags, not sentinel values, say whether a location and a last event time exist
    profile = CustomerProfile(last_location=LastLocation(0.0, 0.0, 0), last_event_time_ms=0)

    decoded = decode_profile(encode_profile(profile))

    assert decoded.last_location == LastLocation(0.0, 0.0, 0)
    assert decoded.last_event_time_ms == 0


def test_profile_encoding_is_compact_and_grows_eight_bytes_per_window_entry() -> None:
    empty = len(encode_profile(CustomerProfile()))

    assert empty <= 100
    assert len(encode_profile(CustomerProfile(recent_event_times=[1, 2, 3]))) == empty + 24


@pytest.mark.parametrize("version", [0, 4, 255])
def test_decoding_an_unknown_profile_version_raises_value_error(version: int) -> None:
    data = bytes([version]) + encode_profile(CustomerProfile())[1:]

    with pytest.raises(ValueError, match="version"):
        decode_profile(data)


def test_decoding_empty_bytes_raises_value_error() -> None:
    with pytest.raises(ValueError, match="version"):
        decode_profile(b"")


# --- the velocity window --------------------------------------------------------------------


def test_prune_forgets_events_at_or_before_the_window_start() -> None:
    profile = CustomerProfile(recent_event_times=[0, 4_999, 5_000, 5_001, 10_000])

    profile.prune_velocity_window(now_ms=10_000, window_ms=5_000)

    assert profile.recent_event_times == [5_001, 10_000]


def test_prune_keeps_everything_inside_the_window() -> None:
    profile = CustomerProfile(recent_event_times=[6_000, 7_000])

    profile.prune_velocity_window(now_ms=10_000, window_ms=5_000)

    assert profile.recent_event_times == [6_000, 7_000]


def test_prune_can_empty_the_window() -> None:
    profile = CustomerProfile(recent_event_times=[1_000, 2_000])

    profile.prune_velocity_window(now_ms=100_000, window_ms=5_000)

    assert profile.recent_event_times == []


def test_prune_of_an_empty_window_is_a_no_op() -> None:
    profile = CustomerProfile()

    profile.prune_velocity_window(now_ms=100_000, window_ms=5_000)

    assert profile.recent_event_times == []


def test_prune_keeps_the_list_object_that_state_holds() -> None:
    times = [1_000, 9_000]
    profile = CustomerProfile(recent_event_times=times)

    profile.prune_velocity_window(now_ms=10_000, window_ms=5_000)

    assert profile.recent_event_times is times
    assert times == [9_000]


def test_a_version_2_profile_decodes_its_compromise_as_a_confirmed_fraud() -> None:
    profile = CustomerProfile(last_event_time_ms=5_000)
    version_3 = encode_profile(profile)
    flags_at = 1 + 8 + 8 + 8 + 8 + 8 + 8
    identifier = b"tx-1"
    compromise = struct.pack("<q H", 4_000, len(identifier)) + identifier
    version_2 = bytes([2]) + version_3[1:flags_at] + bytes([version_3[flags_at] | 4])
    version_2 += version_3[flags_at + 1 :] + compromise

    decoded = decode_profile(version_2)

    assert decoded.verdicts.latest_fraud() == ConfirmedFraud("tx-1", 4_000)
    assert decoded.last_event_time_ms == 5_000


def test_a_version_1_profile_still_decodes_without_compromise_or_override() -> None:
    profile = CustomerProfile(recent_event_times=[5_000], last_event_time_ms=5_000)
    version_1 = bytes([1]) + encode_profile(profile)[1:]  # v2 of such a profile adds nothing

    assert decode_profile(version_1) == profile


def test_forgetting_history_keeps_what_the_profile_was_told() -> None:
    told = Verdicts({"tx-1": Verdict(True, 1_000, 1_000)})
    profile = CustomerProfile(
        last_event_time_ms=9, verdicts=told, blacklisted=True, blacklisted_since_ms=5
    )
    profile.amounts.add(3.0)

    profile.forget()

    assert (profile.amounts.count, profile.last_event_time_ms) == (0, None)
    assert (profile.verdicts, profile.blacklisted) == (told, True)
    assert not profile.is_empty
