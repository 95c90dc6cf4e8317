"""The detector's state cell and the records its buffers hold survive their encodings,
including those written by older releases."""

from __future__ import annotations

import struct
from dataclasses import replace
from decimal import Decimal

import pytest

from transforms.coders import (
    DetectorCell,
    DetectorCellCoder,
    StoreCell,
    StoreCellCoder,
    buffered_customer_id,
    buffered_event_time,
    buffered_order,
    decode_buffered,
    encode_blacklist_change,
    encode_buffered,
    encode_feedback,
    is_event,
    with_store_verdict,
)
from transforms.domain.blacklist import BlacklistHit
from transforms.domain.blacklist_changes import BlacklistChange
from transforms.domain.events import Transaction, encode_transaction
from transforms.domain.feedback import Feedback
from transforms.domain.state import CustomerProfile, encode_profile
from transforms.domain.store_risk import NO_STORE_RISK, StoreRisk, encode_store_activity
from transforms.event_time_buffer import Waiting


def _cell(inline: list[bytes] | None = None) -> DetectorCell:
    profile = CustomerProfile()
    profile.last_event_time_ms = 1_700_000_000_000
    profile.recent_event_times = [1_699_999_999_000, 1_700_000_000_000]
    return DetectorCell(
        profile=profile,
        evaluated_through_ms=1_699_999_000_000,
        expiry_at_ms=1_707_776_000_001,
        buffer=inline or [],
    )


def test_a_cell_round_trips_without_its_waiting_records() -> None:
    coder = DetectorCellCoder()
    cell = _cell()
    cell.waiting = Waiting([((1, 1, b"t"), b"\x10t")], released_in_bag=2)
    decoded = coder.decode(coder.encode(cell))
    assert decoded == cell
    # What waits is in the bag state; the cell read back rebuilds it from there.
    assert decoded.waiting is None
    assert coder.decode(coder.encode(DetectorCell())) == DetectorCell()


def _inline_layout(version: int, cell: DetectorCell | StoreCell, payload: bytes) -> bytes:
    """A cell as the release before the bag state wrote it: its pending flush and its waiting
    records inline, before the payload."""
    header = struct.pack(
        "<B q q q I", version, 1_700_000_000_500, cell.evaluated_through_ms, cell.expiry_at_ms, 2
    )
    records = b"".join(struct.pack("<I", len(r)) + r for r in (b"\x10first", b"\x10" + bytes(9)))
    return header + records + payload


def test_a_customer_cell_of_the_release_that_kept_waiting_records_inline_still_reads() -> None:
    cell = _cell()
    old = _inline_layout(2, cell, encode_profile(cell.profile))

    restored = DetectorCellCoder().decode(old)

    assert restored.buffer == [b"\x10first", b"\x10" + bytes(9)]
    assert restored.profile == cell.profile
    assert (restored.evaluated_through_ms, restored.expiry_at_ms) == (
        cell.evaluated_through_ms,
        cell.expiry_at_ms,
    )
    # Written again while the records are still inline, it keeps the layout that holds them.
    assert DetectorCellCoder().encode(restored)[0] == 2
    assert DetectorCellCoder().decode(DetectorCellCoder().encode(restored)) == restored


def test_a_store_cell_of_the_release_that_kept_waiting_records_inline_still_reads() -> None:
    cell = StoreCell(evaluated_through_ms=5, expiry_at_ms=9)
    cell.activity.add_transaction(1_000)
    old = _inline_layout(1, cell, encode_store_activity(cell.activity))

    restored = StoreCellCoder().decode(old)

    assert restored.buffer == [b"\x10first", b"\x10" + bytes(9)]
    assert restored.activity.risk(1_000) == cell.activity.risk(1_000)
    assert (restored.evaluated_through_ms, restored.expiry_at_ms) == (5, 9)


def _version_1(cell: DetectorCell, waiting_in_bag: int) -> bytes:
    flush_at = 1_700_000_000_500
    header = struct.pack("<B q q I", 1, flush_at, cell.evaluated_through_ms, waiting_in_bag)
    return header + encode_profile(cell.profile)


def test_a_version_1_cell_with_nothing_waiting_is_read_with_no_pending_expiry() -> None:
    cell = _cell()
    restored = DetectorCellCoder().decode(_version_1(cell, waiting_in_bag=0))
    assert restored.expiry_at_ms is None
    assert restored.buffer == []
    assert restored.profile == cell.profile
    assert restored.evaluated_through_ms == cell.evaluated_through_ms


def test_a_version_1_cell_with_events_in_its_bag_fails_rather_than_losing_them() -> None:
    with pytest.raises(ValueError, match="3 events waiting in a bag state"):
        DetectorCellCoder().decode(_version_1(_cell(), waiting_in_bag=3))


def test_an_unknown_version_fails_loudly() -> None:
    encoded = bytearray(DetectorCellCoder().encode(_cell()))
    encoded[0] = 9
    with pytest.raises(ValueError, match="version 9"):
        DetectorCellCoder().decode(bytes(encoded))


# --- the records the ordering buffers hold ---------------------------------------------------

_EVENT = Transaction(
    transaction_id="tx-1",
    customer_id="C-é",
    store_id="S-1",
    amount=Decimal("12.50"),
    event_time_ms=1_790_856_000_000,
    latitude=-23.5,
    longitude=-46.6,
)


def test_an_event_with_its_store_counts_round_trips_and_is_read_without_decoding() -> None:
    risk = StoreRisk((1, 2, 3), (0, 1, 2))
    encoded = encode_buffered(_EVENT, BlacklistHit(customer=True), risk)

    assert decode_buffered(encoded) == (_EVENT, BlacklistHit(customer=True), risk)
    assert buffered_event_time(encoded) == _EVENT.event_time_ms
    assert buffered_customer_id(encoded) == "C-é"
    assert is_event(encoded)


def test_the_store_step_sets_its_verdict_and_keeps_the_customers() -> None:
    encoded = encode_buffered(_EVENT, BlacklistHit(customer=True))
    risk = StoreRisk((4, 5, 6), (1, 1, 1))

    released = with_store_verdict(encoded, risk, store_blacklisted=True)

    assert decode_buffered(released) == (_EVENT, BlacklistHit(True, True), risk)


def test_an_event_buffered_by_an_earlier_release_still_decodes() -> None:
    earlier = bytes((2,)) + encode_transaction(_EVENT)  # flags byte: store blacklisted

    assert decode_buffered(earlier) == (_EVENT, BlacklistHit(store=True), NO_STORE_RISK)
    assert buffered_event_time(earlier) == _EVENT.event_time_ms
    assert buffered_customer_id(earlier) == "C-é"


@pytest.mark.parametrize("label", ["fraud", "genuine"])
def test_feedback_round_trips(label: str) -> None:
    record = Feedback("tx-9", "C-1", "S-ü", label, 1_790_900_000_123)  # type: ignore[arg-type]
    encoded = encode_feedback(record)

    assert decode_buffered(encoded) == record
    assert buffered_event_time(encoded) == 1_790_900_000_123
    assert not is_event(encoded)


@pytest.mark.parametrize(("kind", "listed"), [("store", True), ("customer", False)])
def test_a_blacklist_change_round_trips(kind: str, listed: bool) -> None:
    change = BlacklistChange(kind, "id-ß", listed, 1_790_900_000_000)  # type: ignore[arg-type]
    encoded = encode_blacklist_change(change)

    assert decode_buffered(encoded) == change
    assert buffered_event_time(encoded) == 1_790_900_000_000


def test_an_unknown_record_kind_fails_loudly() -> None:
    with pytest.raises(ValueError, match="kind"):
        decode_buffered(b"\x70" + bytes(20))


def test_records_are_ordered_by_time_then_controls_then_events_by_id() -> None:
    at = _EVENT.event_time_ms
    later_id = replace(_EVENT, transaction_id="tx-z")
    earlier_id = replace(_EVENT, transaction_id="tx-a")
    records = [
        encode_buffered(later_id, BlacklistHit()),
        encode_buffered(earlier_id, BlacklistHit()),
        encode_feedback(Feedback("tx-9", "C", "S", "fraud", at)),
        encode_buffered(replace(_EVENT, event_time_ms=at - 1), BlacklistHit()),
        encode_blacklist_change(BlacklistChange("customer", "C", True, at)),
    ]

    ordered = [decode_buffered(encoded) for encoded in sorted(records, key=buffered_order)]

    assert [type(record).__name__ for record in ordered[1:3]] == ["Feedback", "BlacklistChange"]
    assert [record[0] for record in (ordered[0], *ordered[3:])] == [  # type: ignore[index]
        replace(_EVENT, event_time_ms=at - 1),
        earlier_id,
        later_id,
    ]
