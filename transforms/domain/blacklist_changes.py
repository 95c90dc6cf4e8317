"""Blacklist changes as timed records: the contract and its parser.

The ``--blacklist`` file is the list a job starts with. Changes after that arrive as records
(a file in a bounded run, a compacted topic on the live path) and apply to one customer's or
one store's state from their time on, without a new build of the job::

    {"kind": "customer" | "store", "id": "...", "action": "add" | "remove",
     "effective_at": "2026-10-08T09:30:00-03:00"}

A change takes effect at ``effective_at`` (events at that instant see it) and never before;
the change with the latest ``effective_at`` wins, over the initial list and over any change
that arrives after it (at one instant, an add wins over a remove). ``effective_at`` must carry a UTC
offset. Unknown fields are ignored; whatever is not a valid record becomes an
:class:`~transforms.domain.json_fields.InvalidRecord` with the events' stable error types (DLQ stage
``parse_blacklist_change``): the parser never raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from transforms.domain.json_fields import (
    InvalidRecord,
    InvalidRecordError,
    decode_object,
    one_of,
    text,
    timestamp,
)

ChangeKind = Literal["customer", "store"]
KINDS: tuple[ChangeKind, ...] = ("customer", "store")
ACTIONS = ("add", "remove")
MAX_CHANGE_BYTES = 16 * 1024


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

    def supersedes(self, since_ms: int | None) -> bool:
        """Whether this change replaces one in effect since ``since_ms`` (None: none): the
        latest effective time wins, whatever the order the changes arrive in."""
        return since_ms is None or self.effective_at_ms >= since_ms


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
