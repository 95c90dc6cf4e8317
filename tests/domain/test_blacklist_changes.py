"""The blacklist-change contract: valid changes parse, anything else is an invalid record with
a stable error type, and the parser never raises."""

from __future__ import annotations

import json
from typing import Any

import pytest

from transforms.domain.blacklist_changes import (
    BlacklistChange,
    BlacklistOverride,
    parse_blacklist_change,
)
from transforms.domain.json_fields import ErrorType, InvalidRecord

VALID = {
    "kind": "store",
    "id": "S-SAO-001",
    "action": "add",
    "effective_at": "2026-10-08T09:30:00-03:00",
}


def _parsed(**changes: Any) -> BlacklistChange | InvalidRecord:
    document = {**VALID, **changes}
    return parse_blacklist_change(json.dumps({k: v for k, v in document.items() if v is not ...}))


def test_a_valid_change_parses_with_its_utc_effective_time_and_key() -> None:
    change = _parsed(note="ignored")

    assert change == BlacklistChange("store", "S-SAO-001", True, 1_791_462_600_000)
    assert isinstance(change, BlacklistChange)
    assert change.key == "store:S-SAO-001"


def test_remove_and_customer_changes_parse() -> None:
    assert _parsed(kind="customer", id="C9", action="remove") == BlacklistChange(
        "customer", "C9", False, 1_791_462_600_000
    )


@pytest.mark.parametrize(
    ("changes", "error_type", "message"),
    [
        ({"kind": "terminal"}, ErrorType.INVALID_FIELD, "kind: expected one of customer, store"),
        ({"action": "ban"}, ErrorType.INVALID_FIELD, "action: expected one of add, remove"),
        ({"action": ...}, ErrorType.MISSING_FIELD, "action"),
        ({"id": ""}, ErrorType.INVALID_FIELD, "id"),
        ({"id": 7}, ErrorType.INVALID_FIELD, "id"),
        ({"effective_at": "2026-10-08T09:30:00"}, ErrorType.INVALID_FIELD, "effective_at"),
        ({"effective_at": ...}, ErrorType.MISSING_FIELD, "effective_at"),
    ],
)
def test_an_invalid_change_says_why(
    changes: dict[str, Any], error_type: ErrorType, message: str
) -> None:
    result = _parsed(**changes)

    assert isinstance(result, InvalidRecord)
    assert result.error_type == error_type
    assert message in result.message


@pytest.mark.parametrize(
    ("payload", "error_type"),
    [
        (b"{not json", ErrorType.INVALID_JSON),
        (b"[1, 2]", ErrorType.NOT_AN_OBJECT),
        (b"\xff\xfe", ErrorType.INVALID_JSON),
        (b'{"pad": "' + b"x" * 20_000 + b'"}', ErrorType.PAYLOAD_TOO_LARGE),
    ],
)
def test_undecodable_payloads_are_invalid_never_raised(
    payload: bytes, error_type: ErrorType
) -> None:
    result = parse_blacklist_change(payload)

    assert isinstance(result, InvalidRecord)
    assert result.error_type == error_type


def test_the_latest_effective_time_wins_whatever_the_arrival_order() -> None:
    add = BlacklistChange("store", "S", True, 1_000)

    assert add.supersedes(None, None)
    assert add.supersedes(False, 999)
    assert not add.supersedes(False, 1_001)  # an older change arriving late does not undo a newer
    assert add.apply_to(BlacklistOverride(False, 1_001)) == BlacklistOverride(False, 1_001)
    assert add.apply_to(BlacklistOverride(False, 999)) == BlacklistOverride(True, 1_000)


@pytest.mark.parametrize("add_first", [True, False])
def test_at_one_instant_an_add_wins_over_a_remove_in_either_order(add_first: bool) -> None:
    add = BlacklistChange("customer", "C", True, 1_000)
    remove = BlacklistChange("customer", "C", False, 1_000)
    state = BlacklistOverride()

    for change in (add, remove) if add_first else (remove, add):
        state = change.apply_to(state)

    assert state == BlacklistOverride(True, 1_000)
