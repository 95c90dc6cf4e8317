"""The rules registry's record and lookup: which version is in effect when, what is refused."""

from __future__ import annotations

import json

import pytest

from transforms.coders import decode_buffered, encode_buffered_rules_change, is_registered_change
from transforms.domain.config import default_rules, rules_from_text
from transforms.domain.json_fields import ErrorType, InvalidRecord
from transforms.domain.rules_registry import (
    IncompatibleRulesError,
    RulesChange,
    RulesRegistry,
    encode_rules_change,
    new_rules_change,
    parse_rules_change,
    rules_sha256,
    state_shaping_differences,
)

LOWER = "alert_threshold: 0.4\n"
STRICTER = "alert_threshold: 0.9\nrules:\n  FR-001:\n    multiplier: 5.0\n"
T = 1_800_000_000_000


def _change(text: str, at: int, registered: int = 1) -> RulesChange:
    return new_rules_change(text, at, registered, "ana", "test")


def test_each_time_gets_the_latest_version_effective_at_or_before_it() -> None:
    base = default_rules()
    registry = RulesRegistry(base, (_change(STRICTER, T + 1000), _change(LOWER, T)))
    assert registry.at(T - 1) is base
    assert registry.at(T).alert_threshold == 0.4
    assert registry.at(T + 999).alert_threshold == 0.4
    assert registry.at(T + 1000).alert_threshold == 0.9
    assert registry.at(2**62).alert_threshold == 0.9


def test_the_later_registration_wins_at_one_instant_and_a_repeat_is_one_change() -> None:
    registry = RulesRegistry(default_rules())
    assert registry.learn(_change(LOWER, T, registered=5))
    assert registry.learn(_change(STRICTER, T, registered=9))
    assert not registry.learn(_change(STRICTER, T, registered=9))
    assert registry.at(T).alert_threshold == 0.9
    assert len(registry.changes) == 2


def test_a_version_that_changes_what_the_state_keeps_is_refused() -> None:
    registry = RulesRegistry(default_rules())
    with pytest.raises(IncompatibleRulesError, match=r"FR-002.max_count 5 -> 9"):
        registry.learn(_change("rules:\n  FR-002:\n    max_count: 9\n", T))
    assert state_shaping_differences(default_rules(), rules_from_text(LOWER)) == []


def test_the_record_round_trips_and_its_checks_hold() -> None:
    change = _change(STRICTER, T, registered=T - 60_000)
    parsed = parse_rules_change(encode_rules_change(change))
    assert parsed == change
    assert isinstance(parsed, RulesChange)
    assert parsed.rules.rules_version == change.rules_version
    assert parsed.sha256 == rules_sha256(STRICTER)
    document = json.loads(encode_rules_change(change))
    assert document["effective_from"] == "2027-01-15T08:00:00.000+00:00"
    buffered = encode_buffered_rules_change(change)
    assert is_registered_change(buffered)
    assert decode_buffered(buffered) == change


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"sha256": "0" * 64}, "sha256"),
        ({"rules_version": "rules-000000000000"}, "rules_version"),
        ({"rules": "alert_threshold: 7\n"}, "alert_threshold must be in"),
        ({"rules": "rules:\n  FR-099: {}\n"}, "unknown rules setting"),
        ({"effective_from": "2027-01-15T08:00:00"}, "effective_from"),
    ],
)
def test_a_bad_record_is_an_invalid_record_never_an_exception(
    edit: dict[str, str], message: str
) -> None:
    document = json.loads(encode_rules_change(_change(LOWER, T)))
    if "rules" in edit:
        document.pop("sha256"), document.pop("rules_version")
    document.update(edit)
    parsed = parse_rules_change(json.dumps(document))
    assert isinstance(parsed, InvalidRecord)
    assert parsed.error_type in (ErrorType.INVALID_FIELD, ErrorType.MISSING_FIELD)
    assert message in parsed.message


def test_what_the_cli_may_write_the_job_reads() -> None:
    """No note, no author, an empty rules file (the defaults): a valid record."""
    change = new_rules_change("", T, T - 1, "", "")
    parsed = parse_rules_change(encode_rules_change(change))
    assert parsed == change
    assert isinstance(parsed, RulesChange)
    assert parsed.rules.rules_version == default_rules().rules_version


@pytest.mark.parametrize(
    "rules", ["alert_threshold: 1" + "0" * 400 + "\n", "[" * 5000, "rules: {FR-001: {weight: {}}}"]
)
def test_a_hostile_rules_text_is_an_invalid_record(rules: str) -> None:
    document = {"rules": rules, "effective_from": "2027-01-01T00:00:00Z"}
    document["registered_at"] = "2026-12-01T00:00:00Z"
    parsed = parse_rules_change(json.dumps(document))
    assert isinstance(parsed, InvalidRecord)
    assert parsed.error_type == ErrorType.INVALID_FIELD
