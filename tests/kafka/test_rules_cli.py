"""``python -m pipelines.rules`` on a real PostgreSQL and broker: a version is registered and
published together, listed, shown, compared and exported as the file a replay reads; a bad one
is refused with one line and leaves nothing behind."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from pipelines.rules.cli import main
from pipelines.warehouse.options import DSN_VARIABLE
from tests.console.relay_check import read_topic
from tests.kafka.live import Topics
from tests.kafka.registration import soon
from transforms.domain.config import default_rules
from transforms.domain.rules_registry import RulesChange, parse_rules_change
from transforms.read import read_rules_changes

pytestmark = pytest.mark.kafka

LOWER = "alert_threshold: 0.55  # more alerts while the campaign runs\n"


def _register(path: Path, topics: Topics, *extra: str) -> int:
    return main(["register", str(path), f"--rules_topic={topics.rules}", "--author=ana", *extra])


def _rows(dsn: str) -> int:
    with psycopg.connect(dsn) as connection:
        row = connection.execute("SELECT count(*) FROM silver.rules_registry").fetchone()
    assert row is not None
    return int(row[0])


def test_a_version_is_registered_published_listed_shown_compared_and_exported(
    registry: str,
    topics: Topics,
    bootstrap_servers: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rules = tmp_path / "lower.yaml"
    rules.write_text(LOWER)
    effective = soon(120)
    assert _register(rules, topics, f"--effective_from={effective}", "--note=campaign") == 0
    printed = capsys.readouterr().out
    assert printed.startswith("registered rules-")
    assert f"published to {topics.rules}" in printed

    [record] = read_topic(bootstrap_servers, topics.rules, 1)
    change = parse_rules_change(record.value())
    assert isinstance(change, RulesChange)
    assert record.key() == b"1"
    assert record.timestamp()[1] == change.registered_at_ms
    assert change.rules.alert_threshold == 0.55
    assert (change.author, change.note, change.rules_text) == ("ana", "campaign", LOWER)
    assert change.effective_from_ms == int(datetime.fromisoformat(effective).timestamp() * 1000)

    assert main(["list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[1].split("\t")[:2] == ["1", change.rules_version]
    assert listed[1].split("\t")[5:] == ["yes", "campaign", "champion"]
    assert main(["show", "1"]) == 0
    assert capsys.readouterr().out == LOWER
    assert main(["diff", "defaults", change.rules_version]) == 0
    changed = [line for line in capsys.readouterr().out.splitlines() if line[:1] in "+-"]
    assert changed[2:] == ["-alert_threshold: 0.7", "+alert_threshold: 0.55"]

    exported = tmp_path / "registry.jsonl"
    assert main(["export", f"--output={exported}"]) == 0
    [line] = exported.read_text().splitlines()
    assert json.loads(line)["rules_version"] == change.rules_version
    assert read_rules_changes(str(exported), default_rules()) == [change]


@pytest.mark.parametrize(
    ("text", "effective_in_s", "message"),
    [
        (LOWER, 5, "sooner than the grace a live job needs (30 s)"),
        ("alert_threshold: [", 120, "not valid YAML"),
        ("rules:\n  FR-002:\n    window_minutes: 60\n", 120, "changes what the kept state holds"),
        ("alert_threshold: 2\n", 120, "alert_threshold must be in (0, 1]"),
    ],
)
def test_a_bad_version_is_refused_with_one_line_and_nothing_registered(
    registry: str,
    topics: Topics,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    effective_in_s: float,
    message: str,
) -> None:
    rules = tmp_path / "candidate.yaml"
    rules.write_text(text)
    assert _register(rules, topics, f"--effective_from={soon(effective_in_s)}") == 2
    error = capsys.readouterr().err
    assert error.startswith("pipelines.rules: register: ")
    assert message in error
    assert error.count("\n") == 1
    assert _rows(registry) == 0


def test_mistakes_in_the_other_commands_are_one_line(
    registry: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["show", "rules-000000000000"]) == 2
    assert "no registered version rules-000000000000" in capsys.readouterr().err
    assert main(["register", "x.yaml", "--effective_from=2027-01-01T00:00:00"]) == 2
    assert "needs a UTC offset" in capsys.readouterr().err
    monkeypatch.delenv(DSN_VARIABLE)
    assert main(["list"]) == 2
    assert "give --dsn or set STREAMFLOW_PG_DSN" in capsys.readouterr().err


def test_a_version_the_broker_refuses_is_not_registered(
    registry: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("pipelines.rules.publish.PUBLISH_TIMEOUT_S", 2)
    rules = tmp_path / "lower.yaml"
    rules.write_text(LOWER)
    status = main(
        [
            "register",
            str(rules),
            f"--effective_from={soon(120)}",
            "--kafka_bootstrap_servers=127.0.0.1:9",  # nothing listens there
        ]
    )
    assert status == 1
    error = capsys.readouterr().err
    assert error.startswith("pipelines.rules: register: publishing to reference.rules: ")
    assert error.count("\n") == 1
    assert _rows(registry) == 0


def test_a_version_without_a_note_reaches_the_export(
    registry: str, topics: Topics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "defaults.yaml"
    empty.write_text("")  # the packaged defaults, registered as a version of their own
    assert _register(empty, topics, f"--effective_from={soon(120)}") == 0
    exported = tmp_path / "registry.jsonl"
    assert main(["export", f"--output={exported}"]) == 0
    [change] = read_rules_changes(str(exported), default_rules())
    assert change.note == ""
    assert change.rules.rules_version == default_rules().rules_version


def test_a_challenger_is_registered_to_shadow_until_its_end(
    registry: str,
    topics: Topics,
    bootstrap_servers: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rules = tmp_path / "lower.yaml"
    rules.write_text(LOWER)
    start, end = soon(120), soon(7200)
    assert _register(rules, topics, f"--effective_from={start}", "--until", end) == 2
    assert "give --challenger too" in capsys.readouterr().err
    shadow = [f"--effective_from={start}", "--challenger", f"--until={end}"]
    assert _register(rules, topics, *shadow) == 0
    assert "as a challenger in shadow" in capsys.readouterr().out
    [record] = read_topic(bootstrap_servers, topics.rules, 1)
    change = parse_rules_change(record.value())
    assert isinstance(change, RulesChange)
    assert change.role == "challenger"
    assert change.effective_until_ms == int(datetime.fromisoformat(end).timestamp() * 1000)
    assert main(["list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[1].split("\t")[-1].startswith("challenger until ")
    assert _rows(registry) == 1
