"""Values that take effect at an instant: which one is in effect at a given event time.

A registered rules version (:mod:`transforms.domain.rules_registry`) and a registered model
version (:mod:`transforms.domain.model_registry`) are both such values: each scores the events
from its ``effective_from`` on. Of two effective at one instant, the later registered wins (then
the larger digest, for determinism), whatever the order they were learnt in.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from transforms.domain.json_fields import ErrorType, InvalidRecordError, timestamp

Value = TypeVar("Value")

# Sorts after every (registered_at, digest) of one instant: the bound of a lookup.
_LAST = (2**63, "\U0010ffff")


class EffectiveTimeline(Generic[Value]):
    """``learn`` is idempotent on ``(effective_from, registered_at, digest)``; ``at`` is a
    binary search, so a lookup costs the same with one value or many."""

    def __init__(self) -> None:
        self._starts: list[tuple[int, int, str]] = []
        self._values: list[Value] = []

    def learn(
        self, effective_from_ms: int, registered_at_ms: int, digest: str, value: Value
    ) -> bool:
        """Add ``value``; False if a value with this key was known."""
        start = (effective_from_ms, registered_at_ms, digest)
        index = bisect.bisect_left(self._starts, start)
        if index < len(self._starts) and self._starts[index] == start:
            return False
        self._starts.insert(index, start)
        self._values.insert(index, value)
        return True

    def at(self, time_ms: int) -> Value | None:
        """The value in effect at ``time_ms``; None before the first."""
        index = bisect.bisect_right(self._starts, (time_ms, *_LAST))
        return self._values[index - 1] if index else None

    def values(self) -> tuple[Value, ...]:
        return tuple(self._values)

    def __len__(self) -> int:
        return len(self._values)


# A registry record's author and note, whatever it registers.
MAX_AUTHOR, MAX_NOTE = 200, 2000

# What a registered version is for. A champion scores and alerts; a challenger scores in
# shadow beside it, recorded on each scored record, never alerting, until another challenger
# of its kind takes over or its ``effective_until``.
CHAMPION, CHALLENGER = "champion", "challenger"
ROLES = (CHAMPION, CHALLENGER)


def parse_role(document: dict[str, Any]) -> tuple[str, int | None]:
    """``(role, effective_until_ms)`` of a registry record; a record without a role is a
    champion's (records written before challengers existed). ``InvalidRecordError`` if wrong."""
    role = document.get("role")
    if role is None or role == "":
        role = CHAMPION
    if role not in ROLES:
        raise InvalidRecordError(
            ErrorType.INVALID_FIELD, f"role: {str(role)[:40]!r} is not one of {ROLES}"
        )
    if document.get("effective_until") in (None, ""):
        return role, None
    if role != CHALLENGER:
        raise InvalidRecordError(
            ErrorType.INVALID_FIELD, "effective_until: only a challenger's shadow ends"
        )
    until = timestamp(document, "effective_until", None)
    if until <= timestamp(document, "effective_from", None):
        raise InvalidRecordError(
            ErrorType.INVALID_FIELD, "effective_until: not after effective_from"
        )
    return role, until


def role_document(role: str, effective_until_ms: int | None) -> dict[str, Any]:
    """The record's role fields: none for a champion, so its record reads as before."""
    if role == CHAMPION:
        return {}
    document: dict[str, Any] = {"role": role}
    if effective_until_ms is not None:
        document["effective_until"] = iso_millis(effective_until_ms)
    return document


def iso_millis(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def in_effect(value: Value | None, time_ms: int) -> Value | None:
    """``value`` unless its shadow ended before ``time_ms``."""
    until = getattr(value, "effective_until_ms", None)
    return value if until is None or time_ms < until else None
