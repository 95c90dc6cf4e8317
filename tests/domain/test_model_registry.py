"""Model versions by event time: the record and the lookup (the wiring is to come)."""

from __future__ import annotations

import json

import pytest

from transforms.domain.json_fields import InvalidRecord
from transforms.domain.model_registry import (
    ModelChange,
    ModelRegistry,
    encode_model_change,
    parse_model_change,
)

T = 1_800_000_000_000


def _change(version: str, at: int, registered: int = 1, digest: str = "a" * 64) -> ModelChange:
    return ModelChange(version, digest, f"/models/{version}", at, registered)


def test_before_the_first_version_the_jobs_own_model_scores() -> None:
    registry = ModelRegistry((_change("m2", T + 10), _change("m1", T)))
    assert registry.at(T - 1) is None
    assert registry.at(T).model_version == "m1"  # type: ignore[union-attr]
    assert registry.at(T + 10).model_version == "m2"  # type: ignore[union-attr]
    assert not registry.learn(_change("m1", T))


def test_the_record_round_trips_and_a_bad_one_is_invalid() -> None:
    change = _change("supervised-0123456789ab", T, T - 1000, "b" * 64)
    assert parse_model_change(encode_model_change(change)) == change
    document = json.loads(encode_model_change(change))
    assert document["kind"] == "model"
    for edit in ({"sha256": "xyz"}, {"location": ""}, {"effective_from": "soon"}):
        assert isinstance(parse_model_change(json.dumps({**document, **edit})), InvalidRecord)
    assert isinstance(parse_model_change(b"\xff"), InvalidRecord)


@pytest.mark.parametrize("payload", ["[", "{}", '{"sha256": 5}'])
def test_garbage_is_an_invalid_record(payload: str) -> None:
    assert isinstance(parse_model_change(payload), InvalidRecord)


def test_the_registry_stream_carries_both_kinds() -> None:
    from transforms.domain.config import default_rules
    from transforms.domain.rules_registry import (
        RulesChange,
        encode_rules_change,
        new_rules_change,
    )
    from transforms.domain.scoring_registry import ScoringRegistry, parse_registered_change

    base = default_rules()
    model = _change("m1", T)
    rules = new_rules_change("alert_threshold: 0.5\n", T + 5, T - 1, "ana", "")
    assert parse_registered_change(encode_model_change(model), base) == model
    parsed_rules = parse_registered_change(encode_rules_change(rules), base)
    assert isinstance(parsed_rules, RulesChange)
    assert parsed_rules.rules_version == rules.rules_version
    labelled = json.dumps({**json.loads(encode_rules_change(rules)), "kind": "rules"})
    assert isinstance(parse_registered_change(labelled, base), RulesChange)
    unknown = json.dumps({**json.loads(encode_model_change(model)), "kind": "feature"})
    invalid = parse_registered_change(unknown, base)
    assert isinstance(invalid, InvalidRecord)
    assert "kind" in invalid.message
    assert isinstance(parse_registered_change(b"[1", base), InvalidRecord)

    registry = ScoringRegistry.of(base, (model, rules))
    assert registry.rules_at(T).rules_version == base.rules_version
    assert registry.rules_at(T + 5).rules_version == rules.rules_version
    assert registry.model_at(T - 1) is None
    assert registry.model_at(T) == model
    copy = registry.copy()
    assert copy.learn(_change("m2", T + 9))
    assert registry.model_at(T + 9) == model  # the copy learns alone
    assert set(registry.changes) < set(copy.changes)


def test_a_challenger_shadows_from_its_time_until_its_end_and_parses_back() -> None:
    from dataclasses import replace

    from transforms.domain.config import default_rules
    from transforms.domain.rules_registry import (
        encode_rules_change,
        new_rules_change,
        parse_rules_change,
    )
    from transforms.domain.scoring_registry import ScoringRegistry

    base = default_rules()
    rules = replace(
        new_rules_change("alert_threshold: 0.5\n", T, T - 1, "ana", ""),
        role="challenger",
        effective_until_ms=T + 100,
    )
    model = replace(_change("m9", T + 50), role="challenger")
    assert parse_rules_change(encode_rules_change(rules)) == rules
    assert parse_model_change(encode_model_change(model)) == model
    champion = new_rules_change("alert_threshold: 0.5\n", T, T - 1, "ana", "")
    assert "role" not in json.loads(encode_rules_change(champion))  # reads as before

    registry = ScoringRegistry.of(base, (rules, model))
    assert registry.rules_at(T + 1).rules_version == base.rules_version  # never the champion
    assert registry.model_at(T + 60) is None
    assert registry.challengers_at(T - 1) == (None, None)
    assert registry.challengers_at(T) == (rules, None)
    assert registry.challengers_at(T + 50) == (rules, model)
    assert registry.challengers_at(T + 100) == (None, model)  # the rules' shadow ended
    assert set(registry.copy().changes) == {rules, model}


@pytest.mark.parametrize(
    "edit",
    [
        {"role": "referee"},
        {"effective_until": "2027-01-15T08:00:00Z"},  # a champion's
        {"role": "challenger", "effective_until": "2020-01-01T00:00:00Z"},  # before its start
    ],
)
def test_a_bad_role_is_an_invalid_record(edit: dict[str, str]) -> None:
    document = json.loads(encode_model_change(_change("m1", T)))
    invalid = parse_model_change(json.dumps({**document, **edit}))
    assert isinstance(invalid, InvalidRecord)
