"""The one clock of the domain: integer UTC epoch milliseconds, ISO-8601 and the local hour."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.domain.event_time import (
    DEFAULT_BUSINESS_TIMEZONE,
    business_timezone,
    format_utc,
    local_hour_of_day,
    parse_timestamp,
)

SAO_PAULO = business_timezone(DEFAULT_BUSINESS_TIMEZONE)
OCT_1_13H_UTC = int(datetime(2026, 10, 1, 13, 0, tzinfo=UTC).timestamp()) * 1000


def test_default_business_time_zone_is_sao_paulo() -> None:
    assert DEFAULT_BUSINESS_TIMEZONE == "America/Sao_Paulo"
    assert business_timezone("America/Sao_Paulo") is SAO_PAULO


def test_unknown_time_zone_name_raises() -> None:
    with pytest.raises(ZoneInfoNotFoundError):
        business_timezone("Mars/Olympus_Mons")


def test_naive_timestamp_is_read_in_the_given_zone() -> None:
    assert parse_timestamp("2026-10-01T10:00:00", SAO_PAULO) == OCT_1_13H_UTC


def test_naive_timestamp_without_a_zone_raises_value_error() -> None:
    with pytest.raises(ValueError, match="offset"):
        parse_timestamp("2026-10-01T10:00:00", None)


@pytest.mark.parametrize(
    "text", ["2026-10-01T13:00:00Z", "2026-10-01T13:00:00+00:00", "2026-10-01T10:00:00-03:00"]
)
def test_timestamp_with_an_offset_ignores_the_naive_zone(text: str) -> None:
    assert parse_timestamp(text, None) == OCT_1_13H_UTC
    assert parse_timestamp(text, ZoneInfo("Asia/Tokyo")) == OCT_1_13H_UTC


def test_sub_millisecond_digits_are_truncated() -> None:
    assert parse_timestamp("2026-10-01T13:00:00.999999Z", None) == OCT_1_13H_UTC + 999


def test_before_the_epoch_is_negative_millis() -> None:
    assert parse_timestamp("1969-12-31T23:59:59.999Z", None) == -1


@pytest.mark.parametrize(
    ("millis", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (OCT_1_13H_UTC + 7, "2026-10-01T13:00:00.007Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (-62_135_596_800_000, "0001-01-01T00:00:00.000Z"),
    ],
)
def test_format_utc_writes_iso_8601_with_milliseconds(millis: int, text: str) -> None:
    assert format_utc(millis) == text


@given(st.integers(-62_135_596_800_000, 253_402_300_799_999))
def test_format_utc_round_trips_through_parse_timestamp(millis: int) -> None:
    assert parse_timestamp(format_utc(millis), None) == millis


def test_local_hour_is_a_fraction_of_the_business_day() -> None:
    assert local_hour_of_day(OCT_1_13H_UTC, SAO_PAULO) == 10.0
    assert local_hour_of_day(OCT_1_13H_UTC + 30 * 60_000, SAO_PAULO) == 10.5
    assert local_hour_of_day(OCT_1_13H_UTC + 36_000, SAO_PAULO) == pytest.approx(10.01, abs=1e-12)


def test_local_hour_wraps_at_local_midnight() -> None:
    # 02:30 UTC is 23:30 the previous evening in Sao Paulo
    assert local_hour_of_day(OCT_1_13H_UTC - 10 * 3_600_000 - 30 * 60_000, SAO_PAULO) == 23.5


def test_local_hour_follows_daylight_saving_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    summer = int(datetime(2026, 7, 1, 12, 0, tzinfo=UTC).timestamp()) * 1000
    winter = int(datetime(2026, 1, 1, 12, 0, tzinfo=UTC).timestamp()) * 1000

    assert local_hour_of_day(summer, berlin) == 14.0
    assert local_hour_of_day(winter, berlin) == 13.0
