"""Beam coders for what the fraud pipeline keeps in state and sends through shuffles.

Each delegates to the domain's explicit, versioned encoding: nothing in state is pickled, so a
job restored from a savepoint after an upgrade reads its state or fails loudly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from apache_beam import coders

from transforms.domain.blacklist import BlacklistHit
from transforms.domain.events import (
    Transaction,
    decode_transaction,
    encode_transaction,
    encoded_event_time,
)
from transforms.domain.state import CustomerProfile, decode_profile, encode_profile


class TransactionCoder(coders.Coder):  # type: ignore[misc]
    def encode(self, value: Transaction) -> bytes:
        return encode_transaction(value)

    def decode(self, encoded: bytes) -> Transaction:
        return decode_transaction(encoded)

    def is_deterministic(self) -> bool:
        return True


BufferedEvent = tuple[Transaction, BlacklistHit]


# Events cross the shuffle and wait in the ordering buffer in this encoded form: one encode and
# one decode per event, and the stateful DoFn reads the event time without decoding.
def encode_buffered(event: Transaction, hit: BlacklistHit) -> bytes:
    """An event with the blacklist verdict taken where the blacklist side input is at hand."""
    flags = int(hit.customer) | (int(hit.store) << 1)
    return bytes((flags,)) + encode_transaction(event)


def decode_buffered(data: bytes) -> BufferedEvent:
    flags = data[0]
    return decode_transaction(data[1:]), BlacklistHit(bool(flags & 1), bool(flags & 2))


def buffered_event_time(data: bytes) -> int:
    return encoded_event_time(data, offset=1)


@dataclass(slots=True)
class DetectorCell:
    """The single state cell of a customer: the domain profile plus the ordering bookkeeping.

    ``flush_at_ms`` is the pending flush timer (None: none pending); ``evaluated_through_ms`` is
    the event time up to which the customer's events have been scored (the watermark had
    passed it); ``buffered`` counts events in the buffer, so timers skip reading an empty bag.
    """

    profile: CustomerProfile = field(default_factory=CustomerProfile)
    flush_at_ms: int | None = None
    evaluated_through_ms: int | None = None
    buffered: int = 0

    def __sizeof__(self) -> int:
        # Deep-size estimate for the state cache's weigher (see state_cache_sizing).
        return 256 + 8 * len(self.profile.recent_event_times)


_NONE = -(2**63)
_CELL_HEADER = struct.Struct("<B q q I")
_CELL_CODEC_VERSION = 1


class DetectorCellCoder(coders.Coder):  # type: ignore[misc]
    def encode(self, value: DetectorCell) -> bytes:
        header = _CELL_HEADER.pack(
            _CELL_CODEC_VERSION,
            _NONE if value.flush_at_ms is None else value.flush_at_ms,
            _NONE if value.evaluated_through_ms is None else value.evaluated_through_ms,
            value.buffered,
        )
        return header + encode_profile(value.profile)

    def decode(self, encoded: bytes) -> DetectorCell:
        version, flush_at, evaluated_through, buffered = _CELL_HEADER.unpack_from(encoded)
        if version != _CELL_CODEC_VERSION:
            raise ValueError(f"unknown detector state encoding version {version}")
        return DetectorCell(
            profile=decode_profile(encoded[_CELL_HEADER.size :]),
            flush_at_ms=None if flush_at == _NONE else flush_at,
            evaluated_through_ms=None if evaluated_through == _NONE else evaluated_through,
            buffered=buffered,
        )

    def is_deterministic(self) -> bool:
        return True


coders.registry.register_coder(Transaction, TransactionCoder)
