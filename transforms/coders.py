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
    """The single state cell of a customer: the domain profile, the events waiting for the
    watermark, and the ordering bookkeeping.

    ``buffer`` holds the waiting events in their encoded form (``encode_buffered``): inside the
    cell rather than in a bag state, because the SDK harness's cache keeps a value that is
    written whole, while a bag that is only appended to is read back from the runner on every
    flush. ``flush_at_ms`` is the pending flush timer (None: none pending);
    ``evaluated_through_ms`` is the event time up to which the customer's events have been
    scored (the watermark had passed it); ``expiry_at_ms`` is the pending expiry timer, so that
    it is set once per inactivity period rather than at every flush.
    """

    profile: CustomerProfile = field(default_factory=CustomerProfile)
    flush_at_ms: int | None = None
    evaluated_through_ms: int | None = None
    expiry_at_ms: int | None = None
    buffer: list[bytes] = field(default_factory=list)

    def __sizeof__(self) -> int:
        # Deep-size estimate for the state cache's weigher (see state_cache_sizing).
        waiting = sum(len(encoded) + 40 for encoded in self.buffer)
        return 256 + 8 * len(self.profile.recent_event_times) + waiting


_NONE = -(2**63)
_CELL_HEADER = struct.Struct("<B q q q I")
_LENGTH = struct.Struct("<I")
# Version 1 (before the buffer moved into the cell) kept waiting events in a separate bag state.
_CELL_HEADER_V1 = struct.Struct("<B q q I")
_CELL_CODEC_VERSION = 2


def _optional(value: int) -> int | None:
    return None if value == _NONE else value


def _stored(value: int | None) -> int:
    return _NONE if value is None else value


class DetectorCellCoder(coders.Coder):  # type: ignore[misc]
    def encode(self, value: DetectorCell) -> bytes:
        parts = [
            _CELL_HEADER.pack(
                _CELL_CODEC_VERSION,
                _stored(value.flush_at_ms),
                _stored(value.evaluated_through_ms),
                _stored(value.expiry_at_ms),
                len(value.buffer),
            )
        ]
        for encoded in value.buffer:
            parts.append(_LENGTH.pack(len(encoded)))
            parts.append(encoded)
        parts.append(encode_profile(value.profile))
        return b"".join(parts)

    def decode(self, encoded: bytes) -> DetectorCell:
        version = encoded[0]
        if version == 1:
            return _decode_version_1(encoded)
        if version != _CELL_CODEC_VERSION:
            raise ValueError(f"unknown detector state encoding version {version}")
        _, flush_at, evaluated_through, expiry_at, waiting = _CELL_HEADER.unpack_from(encoded)
        offset = _CELL_HEADER.size
        buffer = []
        for _ in range(waiting):
            (length,) = _LENGTH.unpack_from(encoded, offset)
            offset += _LENGTH.size
            buffer.append(encoded[offset : offset + length])
            offset += length
        return DetectorCell(
            profile=decode_profile(encoded[offset:]),
            flush_at_ms=_optional(flush_at),
            evaluated_through_ms=_optional(evaluated_through),
            expiry_at_ms=_optional(expiry_at),
            buffer=buffer,
        )

    def is_deterministic(self) -> bool:
        return True


def _decode_version_1(encoded: bytes) -> DetectorCell:
    """A cell of an earlier release: usable as long as no events were waiting in its bag,
    which this release no longer reads; otherwise fail loudly rather than lose them."""
    _, flush_at, evaluated_through, buffered = _CELL_HEADER_V1.unpack_from(encoded)
    if buffered:
        raise ValueError(
            f"detector state version 1 with {buffered} events waiting in a bag state, which "
            "this release does not read: drain the job (stop with a final watermark) before "
            "upgrading"
        )
    return DetectorCell(
        profile=decode_profile(encoded[_CELL_HEADER_V1.size :]),
        flush_at_ms=_optional(flush_at),
        evaluated_through_ms=_optional(evaluated_through),
    )


coders.registry.register_coder(Transaction, TransactionCoder)
