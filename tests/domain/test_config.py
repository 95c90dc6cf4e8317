"""Rule configuration as data: YAML over packaged defaults, versioned by effective content."""

from __future__ import annotations

import re

import pytest
import yaml

from transforms.domain.config import (
    RULE_IDS,
    default_rules,
    default_rules_text,
    rules_from_text,
)

DEFAULT_VERSION = default_rules().rules_version


def test_defaults_load_with_the_documented_values() -> None:
    rules = default_rules()

    assert rules.alert_threshold == 0.7
    assert rules.inactivity_days == 90
    assert rules.inactivity_ms == 90 * 86_400_000
    assert (rules.ml_alpha, rules.ml_threshold) == (0.3, 0.6)
    assert (rules.high_value.multiplier, rules.high_value.min_transactions) == (3.0, 5)
    assert (rules.velocity.window_minutes, rules.velocity.max_count) == (10, 5)
    assert rules.velocity.window_ms == 600_000
    assert rules.velocity.retained_events == 10
    assert (rules.impossible_travel.max_speed_kmh, rules.impossible_travel.min_distance_km) == (
        500.0,
        50.0,
    )
    assert (rules.unusual_hour.std_dev_threshold, rules.unusual_hour.min_history) == (2.0, 5)
    assert all(
        section.enabled
        for section in (
            rules.high_value,
            rules.velocity,
            rules.impossible_travel,
            rules.unusual_hour,
            rules.blacklist,
        )
    )


def test_default_weights_make_the_blacklist_decisive() -> None:
    rules = default_rules()

    assert {rule_id: rules.weight(rule_id) for rule_id in RULE_IDS} == {
        "FR-001": 0.9,
        "FR-002": 1.0,
        "FR-003": 0.9,
        "FR-004": 0.6,
        "FR-005": 1.0,
        "FR-007": 0.9,
        "FR-008": 0.6,
    }


def test_weight_of_an_unknown_rule_raises() -> None:
    with pytest.raises(KeyError):
        default_rules().weight("FR-006")


def test_default_rules_text_is_the_packaged_yaml() -> None:
    settings = yaml.safe_load(default_rules_text())

    assert set(settings["rules"]) == set(RULE_IDS)


def test_rules_version_is_a_short_content_hash() -> None:
    assert re.fullmatch(r"rules-[0-9a-f]{12}", DEFAULT_VERSION)


def test_rules_version_is_stable_across_loads() -> None:
    assert default_rules().rules_version == DEFAULT_VERSION
    assert rules_from_text(None).rules_version == DEFAULT_VERSION
    assert rules_from_text("").rules_version == DEFAULT_VERSION
    assert default_rules() == default_rules()


def test_rules_version_changes_when_a_value_changes() -> None:
    versions = {
        DEFAULT_VERSION,
        rules_from_text("alert_threshold: 0.71").rules_version,
        rules_from_text("rules: {FR-002: {max_count: 6}}").rules_version,
        rules_from_text("rules: {FR-004: {enabled: false}}").rules_version,
        rules_from_text("ml: {alpha: 0.5}").rules_version,
    }

    assert len(versions) == 5


@pytest.mark.parametrize(
    "restated",
    [
        "alert_threshold: 0.7",
        "rules: {FR-002: {weight: 1}}",
        "rules: {FR-002: {weight: 1.0, window_minutes: 10.0}}",
        "inactivity_days: 90.0",
        "rules: {FR-001: {enabled: true}}",
        "# only a comment",
    ],
)
def test_restating_a_default_keeps_the_rules_version(restated: str) -> None:
    assert rules_from_text(restated).rules_version == DEFAULT_VERSION


def test_key_order_does_not_change_the_rules_version() -> None:
    one = "alert_threshold: 0.8\nrules:\n  FR-001: {multiplier: 4.0, min_transactions: 3}\n"
    other = "rules:\n  FR-001: {min_transactions: 3, multiplier: 4.0}\nalert_threshold: 0.8\n"

    assert rules_from_text(one).rules_version == rules_from_text(other).rules_version


def test_override_changes_only_the_named_values() -> None:
    rules = rules_from_text("rules: {FR-001: {multiplier: 4.0}, FR-003: {enabled: false}}")

    assert rules.high_value.multiplier == 4.0
    assert rules.high_value.min_transactions == 5
    assert not rules.impossible_travel.enabled
    assert rules.velocity == default_rules().velocity


def test_integer_override_of_a_float_setting_is_stored_as_a_float() -> None:
    rules = rules_from_text("rules: {FR-003: {max_speed_kmh: 800}}")

    assert rules.impossible_travel.max_speed_kmh == 800.0
    assert isinstance(rules.impossible_travel.max_speed_kmh, float)


def test_velocity_window_can_be_fractional_minutes() -> None:
    assert rules_from_text("rules: {FR-002: {window_minutes: 7.5}}").velocity.window_ms == 450_000


@pytest.mark.parametrize(
    ("override", "where"),
    [
        ("alert_treshold: 0.5", "alert_treshold"),
        ("rules: {FR-009: {enabled: true}}", "rules.FR-009"),
        ("rules: {FR-001: {multipler: 4.0}}", "rules.FR-001.multipler"),
        ("ml: {beta: 0.5}", "ml.beta"),
    ],
)
def test_unknown_key_is_rejected_with_its_path(override: str, where: str) -> None:
    with pytest.raises(ValueError, match=re.escape(where)):
        rules_from_text(override)


@pytest.mark.parametrize("override", ["- a\n- b\n", "just text", "42"])
def test_non_mapping_rules_file_is_rejected(override: str) -> None:
    with pytest.raises(ValueError, match="mapping"):
        rules_from_text(override)


@pytest.mark.parametrize("override", ["rules: 3", "rules: {FR-001: [1, 2]}", "ml: 0.5"])
def test_non_mapping_section_is_rejected(override: str) -> None:
    with pytest.raises(ValueError, match="mapping"):
        rules_from_text(override)


@pytest.mark.parametrize("weight", ["1.5", "-0.1", "heavy", "true", "[0.5]", ".nan"])
def test_invalid_weight_is_rejected(weight: str) -> None:
    with pytest.raises(ValueError, match="weight"):
        rules_from_text(f"rules: {{FR-001: {{weight: {weight}}}}}")


@pytest.mark.parametrize(
    "override",
    [
        "alert_threshold: 0",
        "alert_threshold: 1.5",
        "alert_threshold: '0.7'",
        "ml: {alpha: 1.5}",
        "rules: {FR-002: {max_count: 0}}",
        "rules: {FR-002: {max_count: 5.5}}",
        "rules: {FR-002: {window_minutes: 0}}",
        "rules: {FR-001: {multiplier: 0}}",
        "rules: {FR-001: {min_transactions: '5'}}",
        "rules: {FR-003: {max_speed_kmh: -1}}",
        "rules: {FR-004: {std_dev_threshold: 0}}",
        "rules: {FR-004: {min_history: 2.5}}",
        "inactivity_days: 0",
    ],
)
def test_invalid_setting_is_rejected(override: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        rules_from_text(override)


@pytest.mark.parametrize("enabled", ["'false'", "'no'", "0", "1"])
def test_enabled_must_be_a_real_boolean(enabled: str) -> None:
    # a quoted "false" is truthy: it must not leave the rule silently enabled
    with pytest.raises(ValueError, match="enabled"):
        rules_from_text(f"rules: {{FR-004: {{enabled: {enabled}}}}}")


def test_rules_that_are_not_yaml_are_a_value_error() -> None:
    with pytest.raises(ValueError, match="not valid YAML"):
        rules_from_text("rules: {FR-001: [unclosed")
