"""The one clock of the domain: event time as integer UTC epoch milliseconds.

Integers keep ordering and arithmetic exact and identical on every runner; conversion to
and from ISO-8601 and to the business time zone's hour of day happens only here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

DEFAULT_BUSINESS_TIMEZONE = "America/Sao_Paulo"
MILLIS_PER_MINUTE = 60_000
MILLIS_PER_HOUR = 3_600_000
MILLIS_PER_DAY = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Event times accepted as business events; beyond these the calendar arithmetic can overflow.
EARLIEST_EVENT_MS = -2_208_988_800_000  # 1900-01-01T00:00:00Z
LATEST_EVENT_MS = 7_258_118_399_999  # 2199-12-31T23:59:59.999Z


@lru_cache(maxsize=16)
def business_timezone(name: str) -> tzinfo:
    """The named IANA zone; raises ``ZoneInfoNotFoundError`` for an unknown name."""
    return ZoneInfo(name)


def parse_timestamp(text: str, naive_zone: tzinfo | None) -> int:
    """Epoch millis of an ISO-8601 timestamp.

    A timestamp without a UTC offset is read in ``naive_zone``; when that is ``None`` an
    offset is required and ``ValueError`` is raised without one.
    """
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        if naive_zone is None:
            raise ValueError("timestamp must carry a UTC offset")
        moment = moment.replace(tzinfo=naive_zone)
    return _to_millis(moment)


def _to_millis(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_utc(epoch_millis: int) -> str:
    """ISO-8601 in UTC with millisecond precision, e.g. ``2026-10-01T12:00:00.000Z``."""
    moment = _EPOCH + timedelta(milliseconds=epoch_millis)
    # not strftime("%Y"): glibc does not pad years before 1000 to the four digits ISO-8601 needs
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}.{epoch_millis % 1000:03d}Z"


def local_hour_of_day(epoch_millis: int, zone: tzinfo) -> float:
    """Hour of day in ``zone`` as a fraction in [0, 24), e.g. 13.5 for 13:30."""
    moment = datetime.fromtimestamp(epoch_millis / 1000, tz=zone)
    return moment.hour + moment.minute / 60 + moment.second / 3600
