"""python -m pipelines.evaluate_protocol, the handbook-style protocol: three scored runs, a
supervised model trained on the training window with the labels known after the delay,
every scorer measured on the test window only, overall, per day and per pattern, with its
pictures."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ml.artifact import load_artifact
from ml.protocol import SCORERS, Windows
from pipelines.evaluate_protocol import main
from pipelines.synthetic import generate_dataset

WINDOWS = Windows(date(2026, 10, 1), train_days=9, delay_days=3, test_days=5)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("data")
    generate_dataset(
        str(data), seed=8, customers=400, days=17, world="handbook", feedback_delay_days=3
    )
    out = tmp_path_factory.mktemp("eval")
    status = main(
        [
            f"--data={data}",
            f"--output_dir={out}",
            "--train_from=2026-10-01",
            "--train_days=9",
            "--delay_days=3",
            "--test_days=5",
            "--model=",
        ]
    )
    assert status == 0
    return {"out": out, "report": json.loads((out / "report.json").read_text())}


def test_the_windows_follow_train_delay_test() -> None:
    assert (WINDOWS.train_until, WINDOWS.test_from, WINDOWS.test_until) == (
        date(2026, 10, 10),
        date(2026, 10, 13),
        date(2026, 10, 18),
    )
    assert WINDOWS.in_test("2026-10-13")
    assert not WINDOWS.in_test("2026-10-12")
    assert not WINDOWS.in_test("2026-10-18")


def test_every_scorer_is_measured_on_the_test_days_only(report: dict[str, Any]) -> None:
    measured = report["report"]["scorers"]
    assert report["report"]["windows"]["test"] == ["2026-10-13", "2026-10-18"]
    for name in SCORERS:
        if "isolation forest" in name:
            continue  # no anomaly model in this run: "--model=" means rules only
        scores = measured[name]
        assert 0.0 <= scores["average_precision"] <= 1.0, name
        assert set(scores["card_precision_at_100_by_day"]) <= {
            f"2026-10-{day}" for day in range(13, 18)
        }
        assert "compromised_store" in scores["by_pattern"], name


def test_the_supervised_model_was_trained_on_the_training_window_with_delayed_labels(
    report: dict[str, Any],
) -> None:
    artifact = load_artifact(str(report["out"] / "supervised_model"))
    training = artifact.metadata["training"]
    assert (training["train_from"], training["train_until"], training["labels_at"]) == (
        "2026-10-01T00:00:00Z",
        "2026-10-10T00:00:00Z",
        "2026-10-13T00:00:00Z",
    )
    measured = report["report"]["scorers"]
    # Learning from the confirmed fraud beats the rules without it on the test days.
    assert (
        measured["rules with feedback + supervised model"]["average_precision"]
        > measured["rules"]["average_precision"]
    )


def test_the_pictures_are_written_as_png(report: dict[str, Any]) -> None:
    for name in ("precision_recall.png", "card_precision.png"):
        data = (report["out"] / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        assert len(data) > 10_000, name


def test_protocol_needs_a_data_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main([f"--output_dir={tmp_path}"])
    assert exit_status.value.code == 2
    assert capsys.readouterr().err == (
        "pipelines.evaluate_protocol: the following arguments are required: --data\n"
    )
    assert main([f"--data={tmp_path}", f"--output_dir={tmp_path}"]) == 1
    assert capsys.readouterr().err.startswith(
        f"pipelines.evaluate_protocol: --data {tmp_path} has no events.jsonl"
    )
