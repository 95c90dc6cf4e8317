"""Values that take effect at an instant: which one is in effect at a given event time.

A registered rules version (:mod:`transforms.domain.rules_registry`) and a registered model
version (:mod:`transforms.domain.model_registry`) are both such values: each scores the events
from its ``effective_from`` on. Of two effective at one instant, the later registered wins (then
the larger digest, for determinism), whatever the order they were learnt in.
"""

from __future__ import annotations

import bisect
from typing import Generic, TypeVar

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
