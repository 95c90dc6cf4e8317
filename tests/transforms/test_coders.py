"""The detector's state cell survives its encoding, including cells written by older releases."""

from __future__ import annotations

import struct

import pytest

from transforms.coders import DetectorCell, DetectorCellCoder
from transforms.domain.state import CustomerProfile, encode_profile


def _cell() -> DetectorCell:
    profile = CustomerProfile()
    profile.last_event_time_ms = 1_700_000_000_000
    profile.recent_event_times = [1_699_999_999_000, 1_700_000_000_000]
    return DetectorCell(
        profile=profile,
        flush_at_ms=1_700_000_000_500,
        evaluated_through_ms=1_699_999_000_000,
        expiry_at_ms=1_707_776_000_001,
        buffer=[b"\x00first", b"", b"\x01" + bytes(range(256))],
    )


def test_a_cell_round_trips() -> None:
    coder = DetectorCellCoder()
    cell = _cell()
    assert coder.decode(coder.encode(cell)) == cell
    assert coder.decode(coder.encode(DetectorCell())) == DetectorCell()


def _version_1(cell: DetectorCell, waiting_in_bag: int) -> bytes:
    header = struct.pack("<B q q I", 1, cell.flush_at_ms, cell.evaluated_through_ms, waiting_in_bag)
    return header + encode_profile(cell.profile)


def test_a_version_1_cell_with_nothing_waiting_is_read_with_no_pending_expiry() -> None:
    cell = _cell()
    restored = DetectorCellCoder().decode(_version_1(cell, waiting_in_bag=0))
    assert restored.expiry_at_ms is None
    assert restored.buffer == []
    assert restored.profile == cell.profile
    assert (restored.flush_at_ms, restored.evaluated_through_ms) == (
        cell.flush_at_ms,
        cell.evaluated_through_ms,
    )


def test_a_version_1_cell_with_events_in_its_bag_fails_rather_than_losing_them() -> None:
    with pytest.raises(ValueError, match="3 events waiting in a bag state"):
        DetectorCellCoder().decode(_version_1(_cell(), waiting_in_bag=3))


def test_an_unknown_version_fails_loudly() -> None:
    encoded = bytearray(DetectorCellCoder().encode(_cell()))
    encoded[0] = 9
    with pytest.raises(ValueError, match="version 9"):
        DetectorCellCoder().decode(bytes(encoded))
