"""ml.train: a deterministic, calibrated artifact with complete metadata, on small data (the
generated history of ``pipelines.train_default``, which trains through ``ml.train``)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ml.artifact import METADATA_FILENAME, MODEL_FILENAME, load_artifact
from ml.replay import Replay
from ml.scorer import AnomalyScorer
from ml.train import calibrate, features_sha256
from pipelines.synthetic import GeneratorConfig, SyntheticDataset
from pipelines.train_default import generated_history, train_model
from transforms.domain.features import FEATURE_NAMES

CUSTOMERS, DAYS = 150, 10


@pytest.fixture(scope="module")
def generated() -> tuple[SyntheticDataset, Replay]:
    return generated_history(GeneratorConfig(seed=42, customers=CUSTOMERS, days=DAYS))


@pytest.fixture(scope="module")
def dataset(generated: tuple[SyntheticDataset, Replay]) -> SyntheticDataset:
    return generated[0]


@pytest.fixture(scope="module")
def history(generated: tuple[SyntheticDataset, Replay]) -> Replay:
    return generated[1]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("model-42")
    train_model(str(directory), seed=42, customers=CUSTOMERS, days=DAYS)
    return directory


@pytest.fixture(scope="module")
def scorer(model_dir: Path) -> AnomalyScorer:
    return AnomalyScorer.from_artifact(load_artifact(str(model_dir)))


def metadata_of(directory: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((directory / METADATA_FILENAME).read_text("utf-8"))
    return result


def test_metadata_has_every_field(
    model_dir: Path, history: Replay, dataset: SyntheticDataset
) -> None:
    metadata = metadata_of(model_dir)
    model_sha = hashlib.sha256((model_dir / MODEL_FILENAME).read_bytes()).hexdigest()

    assert metadata["model_sha256"] == model_sha
    assert metadata["model_version"] == f"iforest-{model_sha[:12]}"
    assert metadata["feature_names"] == list(FEATURE_NAMES)
    assert set(metadata["library_versions"]) == {"scikit-learn", "numpy", "joblib", "python"}
    assert metadata["training_data_sha256"] == features_sha256(history.features)
    training = metadata["training"]
    assert (training["seed"], training["customers"], training["days"]) == (42, 150, 10)
    assert training["rows"] == len(history)
    fraud = {label["transaction_id"] for label in dataset.labels if label["is_fraud"]}
    assert training["fraud_rows"] == len(fraud) > 0
    assert metadata["contamination"] == 0.02
    assert metadata["n_estimators"] == 100
    calibration = metadata["calibration"]
    assert calibration["low"] < calibration["high"]
    assert (calibration["low_percentile"], calibration["high_percentile"]) == (50.0, 99.9)
    assert 0.0 < calibration["contamination_boundary_score"] < 1.0
    assert datetime.fromisoformat(metadata["created_at"]).utcoffset() is not None
    assert len(metadata["reference"]["features"]) == len(metadata["reference"]["raw_scores"])


def test_calibration_bounds_are_training_percentiles(
    model_dir: Path, scorer: AnomalyScorer, history: Replay
) -> None:
    raw = scorer.raw_scores(history.features, "sklearn")
    calibration = metadata_of(model_dir)["calibration"]
    assert calibration["low"] == pytest.approx(np.percentile(raw, 50.0), abs=1e-12)
    assert calibration["high"] == pytest.approx(np.percentile(raw, 99.9), abs=1e-12)


def test_same_seed_gives_the_same_model(
    tmp_path: Path, model_dir: Path, scorer: AnomalyScorer, history: Replay
) -> None:
    again = train_model(str(tmp_path), seed=42, customers=CUSTOMERS, days=DAYS)

    assert again.model_version == metadata_of(model_dir)["model_version"]
    assert (tmp_path / MODEL_FILENAME).read_bytes() == (model_dir / MODEL_FILENAME).read_bytes()
    rescored = AnomalyScorer.from_artifact(load_artifact(str(tmp_path)))
    np.testing.assert_array_equal(
        rescored.score_batch(history.features), scorer.score_batch(history.features)
    )


def test_another_seed_gives_another_model(
    tmp_path: Path, scorer: AnomalyScorer, history: Replay
) -> None:
    other = train_model(str(tmp_path), seed=7, customers=CUSTOMERS, days=DAYS)

    assert other.model_version != scorer.model_version
    rescored = AnomalyScorer.from_artifact(load_artifact(str(tmp_path)))
    # Different data and different trees: the raw scores of the same rows differ.
    assert not np.array_equal(
        rescored.raw_scores(history.features), scorer.raw_scores(history.features)
    )


def test_scores_are_in_the_unit_interval(scorer: AnomalyScorer, history: Replay) -> None:
    scores = scorer.score_batch(history.features)
    assert scores.shape == (len(history),)
    assert scores.min() == 0.0  # at least half the training data is at or below the median
    assert scores.max() == 1.0  # and the top 0.1% saturates
    assert np.all((scores >= 0.0) & (scores <= 1.0))


def test_fraud_scores_higher_than_legit(
    scorer: AnomalyScorer, history: Replay, dataset: SyntheticDataset
) -> None:
    fraud = {label["transaction_id"] for label in dataset.labels if label["is_fraud"]}
    is_fraud = np.array([tid in fraud for tid in history.transaction_ids])
    scores = scorer.score_batch(history.features)
    assert scores[is_fraud].mean() > scores[~is_fraud].mean() + 0.3


def test_an_obvious_outlier_scores_higher_than_a_typical_event(scorer: AnomalyScorer) -> None:
    typical = [0.0, 1.0, 0.7, 0.1, 0.0, 1.0]
    outlier = [50.0, 1.0, 0.0, 20_000.0, 0.0, 30.0]
    typical_score, outlier_score = scorer.score_batch([typical, outlier])
    assert outlier_score > typical_score
    assert outlier_score >= 0.6  # the default FR-006 threshold


def _train_command(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml.train", *arguments], capture_output=True, text=True
    )


def test_training_on_generated_history_is_not_ml_trains_job(tmp_path: Path) -> None:
    done = _train_command("--output_dir", str(tmp_path / "m"))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "ml.train: give --events or --supervised; the default model, on generated history, "
        "is trained by python -m pipelines.train_default\n"
    )


def test_train_mistakes_are_one_line(tmp_path: Path) -> None:
    nothing = _train_command("--output_dir", str(tmp_path / "m"), "--events", str(tmp_path / "*"))
    assert (nothing.returncode, nothing.stdout) == (1, "")
    assert nothing.stderr == f"ml.train: no file matches ['{tmp_path / '*'}']\n"
    (tmp_path / "day.jsonl").write_text("{}\n")
    no_blacklist = _train_command(
        "--output_dir", str(tmp_path / "m"), "--events", str(tmp_path / "day.jsonl"),
        "--blacklist", str(tmp_path / "missing.csv"),
    )  # fmt: skip
    assert no_blacklist.returncode == 1
    assert no_blacklist.stderr == (
        f"ml.train: No such file or directory: {tmp_path / 'missing.csv'}\n"
    )


def test_calibration_falls_back_to_the_full_range_and_refuses_no_spread() -> None:
    mostly_equal = np.array([0.0] * 2000 + [1.0])
    bounds = calibrate(mostly_equal)
    assert (bounds.low, bounds.high) == (0.0, 1.0)
    with pytest.raises(ValueError, match="no spread"):
        calibrate(np.zeros(10))
