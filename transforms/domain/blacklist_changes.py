"""Blacklist changes as timed records: the contract and its parser.

The ``--blacklist`` file is the list a job starts with. Changes after that arrive as records
(a file in a bounded run, a compacted topic on the live path) and apply to one customer's or
one store's state from their time on, without a new build of the job::

    {"kind": "customer" | "store", "id": "...", "action": "add" | "remove",
     "effective_at": "2026-10-08T09:30:00-03:00"}

A change takes effect at ``effective_at`` (events at that instant see it) and never before;
the change with the latest ``effective_at`` wins, over the initial list and over any change
that arrives after it (at one instant, an add wins over a remove:
:mod:`transforms.domain.precedence`). ``effective_at`` must carry a UTC
offset. Unknown fields are ignored; whatever is not a valid record becomes an
:class:`~transforms.domain.json_fields.InvalidRecord` with the events' stable error types (DLQ stage
``parse_blacklist_change``): the parser never raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from transforms.domain.json_fields import (
    InvalidRecord,
    InvalidRecordError,
    decode_object,
    one_of,
    text,
    timestamp,
)
from transforms.domain.precedence import change_precedence

ChangeKind = Literal["customer", "store"]
KINDS: tuple[ChangeKind, ...] = ("customer", "store")
ACTIONS = ("add", "remove")
MAX_CHANGE_BYTES = 16 * 1024


class BlacklistOverride(NamedTuple):
    """What changes have made of one customer or store: listed or not (None: no change, the
    initial list decides) since the winning change's effective time."""

    listed: bool | None = None
    since_ms: int | None = None


@dataclass(frozen=True, slots=True)
class BlacklistChange:
    kind: ChangeKind
    id: str
    listed: bool  # add: True, remove: False
    effective_at_ms: int

    @property
    def key(self) -> str:
        """The compacted topic's key: one latest change per customer or store."""
        return f"{self.kind}:{self.id}"

    def supersedes(self, listed: bool | None, since_ms: int | None) -> bool:
        """Whether this change replaces the state ``listed`` in effect since ``since_ms``
        (None: no change yet), by :mod:`transforms.domain.precedence`: whatever the order the
        changes arrive in, the latest wins, and at one instant an add."""
        if listed is None or since_ms is None:
            return True
        told = change_precedence(self.effective_at_ms, self.listed)
        return told >= change_precedence(since_ms, listed)

    def apply_to(self, override: BlacklistOverride) -> BlacklistOverride:
        """``(listed, since)`` after this change, which may lose to the one in effect."""
        if self.supersedes(*override):
            return BlacklistOverride(self.listed, self.effective_at_ms)
        return override


def parse_blacklist_change(
    payload: bytes | str, max_payload_bytes: int = MAX_CHANGE_BYTES
) -> BlacklistChange | InvalidRecord:
    """Parse one raw change record. Never raises."""
    try:
        document = decode_object(payload, max_payload_bytes)
        return BlacklistChange(
            kind=_kind(document),
            id=text(document, "id", 100),
            listed=one_of(document, "action", ACTIONS) == "add",
            effective_at_ms=timestamp(document, "effective_at", None),  # offset required
        )
    except InvalidRecordError as invalid:
        return InvalidRecord(invalid.error_type, invalid.message)


def _kind(document: dict[str, object]) -> ChangeKind:
    return "customer" if one_of(document, "kind", KINDS) == "customer" else "store"
