"""``python -m pipelines.backtest`` on generated history: both versions scored after the
backfill's warm-up, measured against the feedback, nothing written to the warehouse."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.backtest import main
from pipelines.synthetic import generate_dataset
from pipelines.synthetic.archive import archive_file, write_feedback_archive
from pipelines.warehouse.options import DSN_VARIABLE
from transforms.domain.config import default_rules, rules_from_text
from transforms.domain.rules_registry import encode_rules_change, new_rules_change

LOWER = "alert_threshold: 0.45\n"
CHANGE_AT = datetime(2026, 10, 6, tzinfo=UTC)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("backtest")
    data = generate_dataset(
        str(folder / "data"), seed=9, customers=150, days=8, feedback_delay_days=1
    )
    archive_file(data.events, str(folder / "archive"))
    write_feedback_archive(Path(data.feedback).read_bytes().splitlines(), folder / "feedback")
    (folder / "lower.yaml").write_text(LOWER)
    at = int(CHANGE_AT.timestamp() * 1000)
    change = new_rules_change(LOWER, at, at - 3_600_000, "ana", "lower from the 6th")
    (folder / "registry.jsonl").write_bytes(encode_rules_change(change) + b"\n")
    return {"folder": folder, "data": Path(data.events).parent}


def _backtest(history: dict[str, Path], out: Path, *extra: str) -> dict[str, Any]:
    folder = history["folder"]
    status = main(
        [
            f"--candidate_rules={folder / 'lower.yaml'}",
            "--from=2026-10-04",
            "--to=2026-10-07",
            "--warmup_days=3",
            f"--archive={folder / 'archive'}",
            f"--feedback_archive={folder / 'feedback'}",
            "--model=none",
            f"--output_dir={out}",
            *extra,
        ]
    )
    assert status == 0
    return dict(json.loads((out / "report.json").read_text()))


def test_a_lower_threshold_gains_alerts_and_loses_none(
    history: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A run that tried the warehouse would fail on this address: nothing may be written.
    monkeypatch.setenv(DSN_VARIABLE, "host=127.0.0.1 port=9 dbname=nowhere connect_timeout=2")
    report = _backtest(history, tmp_path / "out")
    summary = json.loads(capsys.readouterr().out)
    champion, candidate = report["champion"], report["candidate"]
    assert champion["rules_version"] == default_rules().rules_version
    assert candidate["rules_version"] == rules_from_text(LOWER).rules_version
    assert champion["model_version"] == candidate["model_version"] == "none"
    assert candidate["alerts"] > champion["alerts"] > 0
    assert report["gained"]["alerts"] == candidate["alerts"] - champion["alerts"]
    assert report["lost"]["alerts"] == 0
    assert candidate["recall"] >= champion["recall"]
    assert set(champion["alerts_per_day"]) <= {
        "2026-10-04",
        "2026-10-05",
        "2026-10-06",
        "2026-10-07",
    }
    assert champion["scored"] == candidate["scored"]
    assert champion["confirmed_frauds"] == candidate["confirmed_frauds"] > 0
    # The figures are those of the runs' own records.
    precision = champion["true_alerts"] / champion["alerts"]
    assert champion["precision"] == round(precision, 4)
    assert "FR-001" in champion["by_rule"]
    assert all(
        figures["firings"] > 0 and 0 <= figures["false_positive_rate"] <= 1
        for figures in champion["by_rule"].values()
    )
    for example in report["gained"]["examples"]:
        assert example["candidate_score"] >= 0.45
        assert example["champion_score"] < default_rules().alert_threshold
    assert report["cards"]["caught_later"] == 0
    assert summary["gained"] == report["gained"]["alerts"]
    assert all(Path(picture).stat().st_size > 0 for picture in summary["pictures"])


def test_the_champion_scores_by_the_registry_as_live_did(
    history: dict[str, Path], tmp_path: Path
) -> None:
    report = _backtest(
        history,
        tmp_path / "out",
        f"--rules_changes={history['folder'] / 'registry.jsonl'}",
    )
    lower = rules_from_text(LOWER).rules_version
    assert set(report["champion"]["rules_versions"]) == {default_rules().rules_version, lower}
    # From the 6th both score alike: every alert gained is from before the change.
    assert report["gained"]["alerts"] > 0
    assert all(example["day"] < "2026-10-06" for example in report["gained"]["examples"])


def test_a_day_missing_from_the_archive_is_one_line(
    history: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = history["folder"]
    status = main(
        [
            f"--candidate_rules={folder / 'lower.yaml'}",
            "--from=2026-10-04",
            "--to=2026-12-31",
            f"--archive={folder / 'archive'}",
            f"--feedback_archive={folder / 'feedback'}",
            f"--output_dir={tmp_path}",
        ]
    )
    assert status == 2
    error = capsys.readouterr().err
    assert error.startswith("pipelines.backtest: no archived events for 2026-10-1")
    assert error.count("\n") == 1


def test_the_candidate_scores_with_the_champions_registered_models(
    history: dict[str, Path], tmp_path: Path
) -> None:
    """A model version registered for the champion also scores the candidate's events of its
    time: only the rules differ between the two runs."""
    from ml.artifact import load_artifact
    from pipelines.train_default import train_model
    from transforms.domain.model_registry import ModelChange, encode_model_change

    model_dir = tmp_path / "model"
    train_model(str(model_dir), seed=4, customers=120, days=8)
    artifact = load_artifact(str(model_dir))
    at = int(CHANGE_AT.timestamp() * 1000)
    change = ModelChange(
        artifact.model_version, artifact.metadata["model_sha256"], str(model_dir), at, at - 1
    )
    registry = tmp_path / "registry.jsonl"
    registry.write_bytes(encode_model_change(change) + b"\n")
    report = _backtest(history, tmp_path / "out", f"--rules_changes={registry}")
    champion, candidate = report["champion"], report["candidate"]
    assert set(champion["model_versions"]) == {"none", artifact.model_version}
    assert candidate["model_versions"] == champion["model_versions"]
