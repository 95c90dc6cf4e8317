"""The launcher's reference files, read from any Beam filesystem."""

from __future__ import annotations

from pathlib import Path

import pytest

from transforms.domain.config import default_rules, rules_from_text
from transforms.read import read_blacklist, read_rules


def test_a_rules_file_overrides_the_defaults(tmp_path: Path) -> None:
    text = "alert_threshold: 0.8\nrules:\n  FR-002:\n    max_count: 3\n    window_minutes: 5\n"
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")

    rules = read_rules(str(path))

    assert rules.alert_threshold == 0.8
    assert (rules.velocity.max_count, rules.velocity.window_ms) == (3, 300_000)
    assert rules.rules_version == rules_from_text(text).rules_version
    assert rules.rules_version != default_rules().rules_version


def test_an_empty_rules_file_and_no_file_are_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")

    assert read_rules(str(path)) == read_rules(None) == default_rules()


def test_a_missing_rules_file_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="absent"):
        read_rules(str(tmp_path / "absent.yaml"))


def test_the_blacklist_file_names_customers_and_stores(tmp_path: Path) -> None:
    path = tmp_path / "blacklist.csv"
    path.write_text("kind,id\ncustomer,C-1\nstore,S-9\n", encoding="utf-8")

    blacklist = read_blacklist(str(path))

    assert (blacklist.customers, blacklist.stores) == ({"C-1"}, {"S-9"})
    assert len(read_blacklist(None)) == 0
