"""Beam coders for what the fraud pipeline keeps in state and sends through shuffles.

Each delegates to the domain's explicit, versioned encoding: nothing in state is pickled, so a
job restored from a savepoint after an upgrade reads its state or fails loudly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from apache_beam import coders

from transforms.domain.blacklist import BlacklistHit
from transforms.domain.blacklist_changes import BlacklistChange, ChangeKind
from transforms.domain.events import (
    Transaction,
    decode_transaction,
    encode_transaction,
    encoded_customer_id,
    encoded_event_time,
    encoded_transaction_id,
)
from transforms.domain.feedback import Feedback, FeedbackLabel
from transforms.domain.model_registry import ModelChange, encode_model_change, parse_model_change
from transforms.domain.precedence import CONTROL, EVENT
from transforms.domain.rules_registry import (
    RulesChange,
    encode_rules_change,
    parse_rules_change,
)
from transforms.domain.state import CustomerProfile, decode_profile, encode_profile
from transforms.domain.store_risk import (
    NO_STORE_RISK,
    WINDOW_DAYS,
    StoreActivity,
    StoreRisk,
    decode_store_activity,
    encode_store_activity,
)
from transforms.event_time_buffer import Waiting


class TransactionCoder(coders.Coder):  # type: ignore[misc]
    def encode(self, value: Transaction) -> bytes:
        return encode_transaction(value)

    def decode(self, encoded: bytes) -> Transaction:
        return decode_transaction(encoded)

    def is_deterministic(self) -> bool:
        return True


BufferedEvent = tuple[Transaction, BlacklistHit, StoreRisk]
Buffered = BufferedEvent | Feedback | BlacklistChange | RulesChange | ModelChange

# Events and feedback cross the shuffles and wait in the ordering buffers in this encoded form:
# one encode and one decode per record, and the stateful DoFns read the time without decoding.
# The first byte says what follows. Events of earlier releases began with their blacklist
# flags alone (0..3) and carry no store counts.
_EVENT = 0x10  # | blacklist flags; then the store's counts, then the transaction
_FEEDBACK = 0x20  # then the report time, the label, and the three ids
_BLACKLIST_CHANGE = 0x30  # then the effective time, the action and kind, and the id
# Then the effective time and the contract's JSON. A rules or model version is told to every
# shard of the customer step and kept there (transforms.sharded_step), never buffered by a
# customer.
_RULES_CHANGE = 0x40
_MODEL_CHANGE = 0x50
_REGISTERED_HEADER = struct.Struct("<B q")
_CUSTOMER_BLACKLISTED, _STORE_BLACKLISTED = 1, 2
_RISK = struct.Struct(f"<{2 * len(WINDOW_DAYS)}I")
_EVENT_OFFSET = 1 + _RISK.size
_FEEDBACK_HEADER = struct.Struct("<B q B")
_ID_LENGTH = struct.Struct("<H")
_CHANGE_HEADER = struct.Struct("<B q B")
_LISTED, _STORE_CHANGE = 1, 2


def encode_buffered(
    event: Transaction, hit: BlacklistHit, risk: StoreRisk = NO_STORE_RISK
) -> bytes:
    """An event with the blacklist verdict taken where the blacklist is at hand, and its
    store's counts once the store step has seen it."""
    flags = _blacklist_flags(hit.customer, hit.store)
    return (
        bytes((_EVENT | flags,))
        + _RISK.pack(*risk.transactions, *risk.frauds)
        + encode_transaction(event)
    )


def with_store_verdict(data: bytes, risk: StoreRisk, store_blacklisted: bool) -> bytes:
    """An encoded event with the store step's counts and store blacklist verdict."""
    flags = _blacklist_flags(bool(data[0] & _CUSTOMER_BLACKLISTED), store_blacklisted)
    return (
        bytes((_EVENT | flags,))
        + _RISK.pack(*risk.transactions, *risk.frauds)
        + data[_EVENT_OFFSET:]
    )


def encode_feedback(feedback: Feedback) -> bytes:
    parts = [_FEEDBACK_HEADER.pack(_FEEDBACK, feedback.reported_at_ms, int(feedback.is_fraud))]
    for value in (feedback.transaction_id, feedback.customer_id, feedback.store_id):
        encoded = value.encode("utf-8", "surrogatepass")
        parts += (_ID_LENGTH.pack(len(encoded)), encoded)
    return b"".join(parts)


def encode_blacklist_change(change: BlacklistChange) -> bytes:
    flags = (_LISTED if change.listed else 0) | (_STORE_CHANGE if change.kind == "store" else 0)
    identifier = change.id.encode("utf-8", "surrogatepass")
    return (
        _CHANGE_HEADER.pack(_BLACKLIST_CHANGE, change.effective_at_ms, flags)
        + _ID_LENGTH.pack(len(identifier))
        + identifier
    )


def encode_buffered_rules_change(change: RulesChange) -> bytes:
    return _REGISTERED_HEADER.pack(_RULES_CHANGE, change.effective_from_ms) + encode_rules_change(
        change
    )


def encode_buffered_model_change(change: ModelChange) -> bytes:
    return _REGISTERED_HEADER.pack(_MODEL_CHANGE, change.effective_from_ms) + encode_model_change(
        change
    )


def encode_buffered_registered_change(change: RulesChange | ModelChange) -> bytes:
    if isinstance(change, ModelChange):
        return encode_buffered_model_change(change)
    return encode_buffered_rules_change(change)


def is_registered_change(data: bytes) -> bool:
    """A rules or model version, told to every shard."""
    return data[0] in (_RULES_CHANGE, _MODEL_CHANGE)


def _decode_rules_change(data: bytes) -> RulesChange:
    change = parse_rules_change(data[_REGISTERED_HEADER.size :])
    if not isinstance(change, RulesChange):  # it was one when it was encoded
        raise ValueError(f"undecodable rules change: {change.message}")
    return change


def _decode_model_change(data: bytes) -> ModelChange:
    change = parse_model_change(data[_REGISTERED_HEADER.size :])
    if not isinstance(change, ModelChange):  # it was one when it was encoded
        raise ValueError(f"undecodable model change: {change.message}")
    return change


def _decode_blacklist_change(data: bytes) -> BlacklistChange:
    _, effective_at, flags = _CHANGE_HEADER.unpack_from(data)
    (length,) = _ID_LENGTH.unpack_from(data, _CHANGE_HEADER.size)
    start = _CHANGE_HEADER.size + _ID_LENGTH.size
    identifier = data[start : start + length].decode("utf-8", "surrogatepass")
    kind: ChangeKind = "store" if flags & _STORE_CHANGE else "customer"
    return BlacklistChange(kind, identifier, bool(flags & _LISTED), effective_at)


def is_event(data: bytes) -> bool:
    return data[0] < _FEEDBACK


def decode_buffered(data: bytes) -> Buffered:
    kind = data[0]
    if kind < _EVENT:  # an earlier release's event
        hit = BlacklistHit(bool(kind & _CUSTOMER_BLACKLISTED), bool(kind & _STORE_BLACKLISTED))
        return decode_transaction(data[1:]), hit, NO_STORE_RISK
    if kind < _FEEDBACK:
        counts = _RISK.unpack_from(data, 1)
        half = len(WINDOW_DAYS)
        hit = BlacklistHit(bool(kind & _CUSTOMER_BLACKLISTED), bool(kind & _STORE_BLACKLISTED))
        risk = StoreRisk(counts[:half], counts[half:])
        return decode_transaction(data[_EVENT_OFFSET:]), hit, risk
    if kind == _FEEDBACK:
        return _decode_feedback(data)
    if kind == _BLACKLIST_CHANGE:
        return _decode_blacklist_change(data)
    if kind == _RULES_CHANGE:
        return _decode_rules_change(data)
    if kind == _MODEL_CHANGE:
        return _decode_model_change(data)
    raise ValueError(f"unknown buffered record kind {kind}")


def _decode_feedback(data: bytes) -> Feedback:
    _, reported_at, is_fraud = _FEEDBACK_HEADER.unpack_from(data)
    offset = _FEEDBACK_HEADER.size
    ids = []
    for _ in range(3):
        (length,) = _ID_LENGTH.unpack_from(data, offset)
        offset += _ID_LENGTH.size
        ids.append(data[offset : offset + length].decode("utf-8", "surrogatepass"))
        offset += length
    label: FeedbackLabel = "fraud" if is_fraud else "genuine"
    return Feedback(ids[0], ids[1], ids[2], label, reported_at)


def buffered_event_time(data: bytes) -> int:
    """The time a buffered record takes effect at: an event's time, a feedback's report, a
    blacklist change's effective time (both headers keep it at offset 1)."""
    kind = data[0]
    if kind < _EVENT:
        return encoded_event_time(data, offset=1)
    if kind < _FEEDBACK:
        return encoded_event_time(data, offset=_EVENT_OFFSET)
    return int(_FEEDBACK_HEADER.unpack_from(data)[1])


def buffered_order(data: bytes) -> tuple[int, int, bytes]:
    """The order both stateful steps and both paths handle a key's records in, read from the
    encoded form: by time, then what is told at an instant before its events
    (:mod:`transforms.domain.precedence`), then events by transaction id (as
    ``transforms.domain.events.event_order``). Controls of one instant are ordered by their
    bytes only for determinism: which of them wins does not depend on order."""
    kind = data[0]
    if kind < _FEEDBACK:
        offset = 1 if kind < _EVENT else _EVENT_OFFSET
        return (
            encoded_event_time(data, offset=offset),
            EVENT,
            encoded_transaction_id(data, offset=offset),
        )
    return int(_FEEDBACK_HEADER.unpack_from(data)[1]), CONTROL, data


def buffered_customer_id(data: bytes) -> str:
    """The customer an encoded event belongs to, without decoding it."""
    return encoded_customer_id(data, offset=1 if data[0] < _EVENT else _EVENT_OFFSET)


def buffered_customer_key(data: bytes) -> str:
    """The customer whose state a buffered record goes to: an event's customer, a feedback's,
    a customer blacklist change's id (the key :mod:`transforms.fraud_detection` gives it)."""
    kind = data[0]
    if kind < _FEEDBACK:
        return buffered_customer_id(data)
    record = decode_buffered(data)
    if isinstance(record, Feedback):
        return record.customer_id
    assert isinstance(record, BlacklistChange)
    return record.id


def _blacklist_flags(customer: bool, store: bool) -> int:
    return (_CUSTOMER_BLACKLISTED if customer else 0) | (_STORE_BLACKLISTED if store else 0)


@dataclass(slots=True)
class DetectorCell:
    """The single state cell of a customer: the domain profile and the ordering bookkeeping.

    The events waiting for the watermark live in the step's bag state and, in memory, in
    ``waiting`` (:mod:`transforms.event_time_buffer`), which is never encoded. ``buffer`` holds
    the waiting events of a cell written by an earlier release, which kept them inline; they
    move to the bag when the key is next touched. ``evaluated_through_ms`` is the event time up
    to which the customer's events have been scored (the watermark had passed it);
    ``expiry_at_ms`` is the pending expiry timer, so that it is set once per inactivity period
    rather than at every flush.
    """

    profile: CustomerProfile = field(default_factory=CustomerProfile)
    evaluated_through_ms: int | None = None
    expiry_at_ms: int | None = None
    buffer: list[bytes] = field(default_factory=list)
    waiting: Waiting | None = field(default=None, compare=False, repr=False)

    def __sizeof__(self) -> int:
        # Deep-size estimate for the state cache's weigher (see state_cache_sizing).
        return 256 + 8 * len(self.profile.recent_event_times) + _waiting_size(self)


def _waiting_size(cell: DetectorCell | StoreCell) -> int:
    inline = sum(map(len, cell.buffer)) + 40 * len(cell.buffer)
    return inline + (cell.waiting.size_bytes() if cell.waiting is not None else 0)


_NONE = -(2**63)
# Version 3: the bookkeeping, then the payload (waiting records live in a bag state).
_CELL_HEADER = struct.Struct("<B q q")
# Version 2 (detector) and 1 (store) kept the pending flush and the waiting records inline.
_CELL_HEADER_INLINE = struct.Struct("<B q q q I")
_LENGTH = struct.Struct("<I")
# Version 1 (before the buffer moved into the cell) kept waiting events in a separate bag state.
_CELL_HEADER_V1 = struct.Struct("<B q q I")
_CELL_CODEC_VERSION = 3
_STORE_CELL_CODEC_VERSION = 2
# The versions whose cells kept their waiting records inline.
_INLINE_DETECTOR_VERSION, _INLINE_STORE_VERSION = 2, 1


def _optional(value: int) -> int | None:
    return None if value == _NONE else value


def _stored(value: int | None) -> int:
    return _NONE if value is None else value


def _encode_ordered_cell(version: int, cell: DetectorCell | StoreCell, payload: bytes) -> bytes:
    """A stateful step's cell: its timers' bookkeeping, then ``payload`` (what the step keeps
    of its key: a customer's profile, a store's activity). Records still inline (moved to the
    bag when the key is next touched) keep the inline layout."""
    if cell.buffer:
        return _encode_inline_cell(version - 1, cell, payload)
    header = _CELL_HEADER.pack(
        version, _stored(cell.evaluated_through_ms), _stored(cell.expiry_at_ms)
    )
    return header + payload


def _encode_inline_cell(version: int, cell: DetectorCell | StoreCell, payload: bytes) -> bytes:
    parts = [
        _CELL_HEADER_INLINE.pack(
            version,
            _NONE,
            _stored(cell.evaluated_through_ms),
            _stored(cell.expiry_at_ms),
            len(cell.buffer),
        )
    ]
    for encoded in cell.buffer:
        parts += (_LENGTH.pack(len(encoded)), encoded)
    parts.append(payload)
    return b"".join(parts)


def _decode_ordered_cell(encoded: bytes) -> tuple[int | None, int | None, list[bytes], bytes]:
    """``(evaluated_through, expiry_at, inline records, payload)`` of a version 3 cell."""
    _, evaluated_through, expiry_at = _CELL_HEADER.unpack_from(encoded)
    return (
        _optional(evaluated_through),
        _optional(expiry_at),
        [],
        encoded[_CELL_HEADER.size :],
    )


def _decode_inline_cell(encoded: bytes) -> tuple[int | None, int | None, list[bytes], bytes]:
    """The same, of a cell that kept its waiting records inline (its pending flush is
    recomputed from them)."""
    _, _, evaluated_through, expiry_at, waiting = _CELL_HEADER_INLINE.unpack_from(encoded)
    offset = _CELL_HEADER_INLINE.size
    buffer = []
    for _ in range(waiting):
        (length,) = _LENGTH.unpack_from(encoded, offset)
        offset += _LENGTH.size
        buffer.append(encoded[offset : offset + length])
        offset += length
    return _optional(evaluated_through), _optional(expiry_at), buffer, encoded[offset:]


class DetectorCellCoder(coders.Coder):  # type: ignore[misc]
    def encode(self, value: DetectorCell) -> bytes:
        return _encode_ordered_cell(_CELL_CODEC_VERSION, value, encode_profile(value.profile))

    def decode(self, encoded: bytes) -> DetectorCell:
        version = encoded[0]
        if version == 1:
            return _decode_version_1(encoded)
        if version == _CELL_CODEC_VERSION:
            through, expiry_at, buffer, payload = _decode_ordered_cell(encoded)
        elif version == _INLINE_DETECTOR_VERSION:
            through, expiry_at, buffer, payload = _decode_inline_cell(encoded)
        else:
            raise ValueError(f"unknown detector state encoding version {version}")
        return DetectorCell(
            profile=decode_profile(payload),
            evaluated_through_ms=through,
            expiry_at_ms=expiry_at,
            buffer=buffer,
        )

    def is_deterministic(self) -> bool:
        return True


@dataclass(slots=True)
class StoreCell:
    """The single state cell of a store (``transforms.store_step``): its hourly activity and
    the ordering bookkeeping, as in ``DetectorCell``."""

    activity: StoreActivity = field(default_factory=StoreActivity)
    evaluated_through_ms: int | None = None
    expiry_at_ms: int | None = None
    buffer: list[bytes] = field(default_factory=list)
    waiting: Waiting | None = field(default=None, compare=False, repr=False)

    def __sizeof__(self) -> int:
        # Deep-size estimate for the state cache's weigher (see state_cache_sizing): three
        # lists of ints per active hour, plus the waiting records.
        return 256 + 3 * 36 * len(self.activity.hours) + _waiting_size(self)


class StoreCellCoder(coders.Coder):  # type: ignore[misc]
    def encode(self, value: StoreCell) -> bytes:
        activity = encode_store_activity(value.activity)
        return _encode_ordered_cell(_STORE_CELL_CODEC_VERSION, value, activity)

    def decode(self, encoded: bytes) -> StoreCell:
        version = encoded[0]
        if version == _STORE_CELL_CODEC_VERSION:
            through, expiry_at, buffer, payload = _decode_ordered_cell(encoded)
        elif version == _INLINE_STORE_VERSION:
            through, expiry_at, buffer, payload = _decode_inline_cell(encoded)
        else:
            raise ValueError(f"unknown store state encoding version {version}")
        return StoreCell(
            activity=decode_store_activity(payload),
            evaluated_through_ms=through,
            expiry_at_ms=expiry_at,
            buffer=buffer,
        )

    def is_deterministic(self) -> bool:
        return True


def _decode_version_1(encoded: bytes) -> DetectorCell:
    """A cell of an earlier release: usable as long as no events were waiting in its bag,
    which this release no longer reads; otherwise fail loudly rather than lose them."""
    _, _, evaluated_through, buffered = _CELL_HEADER_V1.unpack_from(encoded)
    if buffered:
        raise ValueError(
            f"detector state version 1 with {buffered} events waiting in a bag state, which "
            "this release does not read: drain the job (stop with a final watermark) before "
            "upgrading"
        )
    return DetectorCell(
        profile=decode_profile(encoded[_CELL_HEADER_V1.size :]),
        evaluated_through_ms=_optional(evaluated_through),
    )


coders.registry.register_coder(Transaction, TransactionCoder)
