"""``--emit_from``: a backfill of one day that reads the days before it to warm the state
scores that day exactly as a run over the whole history did, and emits nothing else."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from pipelines.backfill_plan import plan
from pipelines.fraud import main, run
from pipelines.synthetic import generate_dataset
from pipelines.synthetic.archive import archive_file, day_folder, write_feedback_archive
from tests.output_files import read_records

DAY = "2026-10-08"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    root = tmp_path_factory.mktemp("archive")
    dataset = generate_dataset(
        str(root), seed=5, customers=150, days=10, malformed_rate=0.01, feedback_delay_days=2
    )
    archive_file(dataset.events, root / "days")
    write_feedback_archive(Path(dataset.feedback).read_bytes().splitlines(), root / "reports")
    return dataset, root / "days"


def _run(
    inputs: list[Path], out: Path, *extra: str, warmup: tuple[Path, ...] = ()
) -> dict[str, Any]:
    files = [f"--input={folder / 'events.jsonl'}" for folder in inputs]
    files += [f"--warmup_input={folder / 'events.jsonl'}" for folder in warmup]
    return run([*files, f"--output_dir={out}", "--no_model", *extra])


def _scores(out: Path, day: str | None = None) -> dict[str, tuple[Any, ...]]:
    return {
        record["transaction_id"]: (
            record["fraud_score"],
            record["rule_score"],
            tuple(record["rules_triggered"]),
            record["is_alert"],
            tuple(sorted(record["ml_features"].items())),
        )
        for record in read_records(out, "scored")
        if day is None or record["event_time"].startswith(day)
    }


def test_a_warmed_up_backfill_scores_its_day_as_the_full_run(
    archive: tuple[Any, Path], tmp_path: Path
) -> None:
    dataset, days = archive
    every_day = sorted(days.iterdir())
    full = _run(every_day, tmp_path / "full", f"--blacklist={dataset.blacklist}")
    expected = _scores(tmp_path / "full", DAY)
    assert full["conservation_ok"] is True

    before = tuple(folder for folder in every_day if folder.name < f"date={DAY}")
    backfill = _run(
        [day_folder(days, DAY)],
        tmp_path / "backfill",
        f"--blacklist={dataset.blacklist}",
        f"--emit_from={DAY}T00:00:00+00:00",
        warmup=before,
    )
    assert _scores(tmp_path / "backfill") == expected
    assert len(expected) > 100
    # The warm-up was scored (for the state) but not emitted, and the counters still add up.
    counters = backfill["counters"]
    assert counters["warmup_events"] == counters["scored"] - len(expected)
    assert backfill["scored"] == len(expected)
    assert backfill["conservation_ok"] is True
    alerts = {record["transaction_id"] for record in read_records(tmp_path / "backfill", "alerts")}
    assert alerts == {tid for tid, score in expected.items() if score[3]}
    # The dead letters of the range's file only: the warm-up's were written by their own run.
    day_file = str(day_folder(days, DAY) / "events.jsonl")
    full_dead = {
        r["dlq_id"] for r in read_records(tmp_path / "full", "dlq") if day_file in r["source"]
    }
    dead = read_records(tmp_path / "backfill", "dlq")
    assert {r["dlq_id"] for r in dead} == full_dead
    assert all(r["source"].startswith(f"file:{day_file}:") for r in dead)
    assert counters["warmup_dead_letters"] > 0
    assert backfill["dlq"] == len(dead)

    # Without the warm-up, the same day scores differently: the history matters.
    cold = _run([day_folder(days, DAY)], tmp_path / "cold", f"--blacklist={dataset.blacklist}")
    assert cold["scored"] == len(expected)
    assert _scores(tmp_path / "cold") != expected


def test_a_planned_backfill_with_feedback_scores_its_day_as_the_full_run(
    archive: tuple[Any, Path], tmp_path: Path
) -> None:
    # The plan's options, as the fraud_backfill DAG passes them, feedback included.
    dataset, days = archive
    full = run(
        [
            *(f"--input={folder / 'events.jsonl'}" for folder in sorted(days.iterdir())),
            f"--feedback={dataset.feedback}",
            f"--output_dir={tmp_path / 'full'}",
            "--no_model",
        ]
    )
    assert full["conservation_ok"] is True
    planned = plan(
        str(days),
        date.fromisoformat(DAY),
        date.fromisoformat(DAY),
        model="none",
        feedback_archive=str(days.parent / "reports"),
        output_dir=str(tmp_path / "backfill"),
    )
    options = planned["pipeline_options"]
    assert options["feedback"]
    argv = [f"--emit_from={options['emit_from']}", f"--output_dir={options['output_dir']}"]
    argv += ["--no_model"]
    for name in ("input", "warmup_input", "feedback"):
        argv += [f"--{name}={pattern}" for pattern in options[name]]
    run(argv)

    expected = _scores(tmp_path / "full", DAY)
    assert _scores(tmp_path / "backfill") == expected
    # ...and the feedback mattered for that day: without it, other store counts.
    without = [arg for arg in argv if not arg.startswith("--feedback=")]
    without = [arg.replace(str(tmp_path / "backfill"), str(tmp_path / "bare")) for arg in without]
    run(without)
    assert _scores(tmp_path / "bare") != expected


def test_an_emit_from_without_offset_stops_the_run(
    archive: tuple[Any, Path], tmp_path: Path
) -> None:
    _, days = archive
    argv = [
        f"--input={day_folder(days, DAY) / 'events.jsonl'}",
        f"--output_dir={tmp_path}",
        "--emit_from=2026-10-08T00:00:00",
    ]
    with pytest.raises(SystemExit, match="--emit_from 2026-10-08T00:00:00: timestamp must"):
        main(argv)
