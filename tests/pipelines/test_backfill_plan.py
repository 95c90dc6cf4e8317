"""A backfill's plan: the range's files, the warm-up days the rules' look-back asks for (those
the archive has), --emit_from at the range's start, absolute reference data."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from pipelines.backfill_plan import main, plan


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    for day in ("2026-10-01", "2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06"):
        folder = tmp_path / f"date={day}"
        folder.mkdir()
        (folder / "events.jsonl").write_text("{}\n")
    return tmp_path


def _days(options: dict[str, Any]) -> list[str]:
    """The warm-up's days, then the range's."""
    patterns = [*options.get("warmup_input", []), *options["input"]]
    return [pattern.split("date=")[1][:10] for pattern in patterns]


def test_the_warm_up_reads_every_archived_day_of_the_look_back(archive: Path) -> None:
    planned = plan(str(archive), date(2026, 10, 5), date(2026, 10, 6), output_dir="out")
    options = planned["pipeline_options"]
    # The default rules forget a customer after 90 days: every earlier day the archive has.
    assert _days(options) == ["2026-10-01", "2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06"]
    assert len(options["input"]) == 2  # the range; the rest only warms the state
    assert options["emit_from"] == "2026-10-05T00:00:00+00:00"
    assert options["output_dir"] == str(Path("out").resolve())
    assert (planned["warmup_days"], planned["warmup_days_found"]) == (90, 3)


def test_the_rules_look_back_bounds_the_warm_up(archive: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("inactivity_days: 1.5\n")
    planned = plan(
        str(archive), date(2026, 10, 5), date(2026, 10, 5), rules=str(rules), output_dir="out"
    )
    assert _days(planned["pipeline_options"]) == ["2026-10-03", "2026-10-04", "2026-10-05"]
    assert planned["pipeline_options"]["rules"] == str(rules)
    explicit = plan(
        str(archive),
        date(2026, 10, 5),
        date(2026, 10, 5),
        warmup_days=0,
        model="none",
        output_dir="out",
    )
    assert _days(explicit["pipeline_options"]) == ["2026-10-05"]
    assert "warmup_input" not in explicit["pipeline_options"]
    assert explicit["pipeline_options"]["no_model"] is True


def test_a_range_day_missing_from_the_archive_stops_the_plan(
    archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--archive", str(archive), "--start", "2026-10-01", "--end", "2026-10-03"]
    assert main([*argv, "--output_dir", "out"]) == 2
    assert "no archived events for 2026-10-02" in capsys.readouterr().err
    assert (
        main(
            [
                "--archive",
                str(archive),
                "--start",
                "2026-10-06",
                "--end",
                "2026-10-06",
                "--output_dir",
                "out",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["range_days"] == ["2026-10-06"]


def test_the_feedback_of_the_warm_up_and_the_range_is_read(archive: Path, tmp_path: Path) -> None:
    reports = tmp_path / "feedback"
    for day in ("2026-09-30", "2026-10-04", "2026-10-06", "2026-10-07"):
        folder = reports / f"date={day}"
        folder.mkdir(parents=True)
        (folder / "feedback.jsonl").write_text("{}\n")

    planned = plan(
        str(archive),
        date(2026, 10, 5),
        date(2026, 10, 6),
        warmup_days=3,
        feedback_archive=str(reports),
        output_dir="out",
    )

    # Reported in the warm-up (10-02..10-04) or the range; 09-30 is older than the look-back
    # and 10-07 came after the range: neither can change its scores.
    feedback = planned["pipeline_options"]["feedback"]
    assert [pattern.split("date=")[1][:10] for pattern in feedback] == ["2026-10-04", "2026-10-06"]
    assert all(Path(pattern).is_absolute() for pattern in feedback)
    empty = plan(
        str(archive),
        date(2026, 10, 5),
        date(2026, 10, 5),
        warmup_days=1,
        feedback_archive=str(tmp_path / "none"),
        output_dir="out",
    )
    assert "feedback" not in empty["pipeline_options"]


def test_the_rules_registry_is_passed_by_its_absolute_location(
    archive: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    planned = plan(
        str(archive),
        date(2026, 10, 5),
        date(2026, 10, 5),
        rules_changes="registry.jsonl",
        output_dir="out",
    )
    assert planned["pipeline_options"]["rules_changes"] == [str(tmp_path / "registry.jsonl")]
    without = plan(str(archive), date(2026, 10, 5), date(2026, 10, 5), output_dir="out")
    assert "rules_changes" not in without["pipeline_options"]
