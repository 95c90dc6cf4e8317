"""A classifier trained on confirmed fraud: labelled from feedback as known at a moment,
trained on the pipeline's own scored records, written and verified like the anomaly model, and
blended by the pipeline when given as ``--model``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ml.artifact import SUPERVISED, ArtifactError, load_artifact
from ml.scorer import SupervisedScorer, load_scorer
from ml.supervised import confirmed_frauds, train_supervised
from ml.train import main as train_main
from pipelines.fraud import run
from pipelines.synthetic import generate_dataset
from tests.factories import feedback
from tests.ml.reasons_check import assert_alerts_explained
from transforms.domain.features import SUPERVISED_FEATURE_NAMES


@pytest.fixture(scope="module")
def scored_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("handbook")
    data = generate_dataset(
        str(folder), seed=4, customers=300, days=20, world="handbook", feedback_delay_days=2
    )
    out = folder / "out"
    base = [
        f"--input={data.events}",
        f"--labels_file={data.labels}",
        f"--blacklist={data.blacklist}",
    ]
    summary = run([*base, f"--feedback={data.feedback}", f"--output_dir={out}", "--no_model"])
    return {"data": data, "out": out, "summary": summary, "base": base}


def _lines(*documents: dict[str, Any]) -> list[bytes]:
    return [json.dumps(d).encode() for d in documents]


def test_labels_are_what_the_feedback_said_by_then() -> None:
    reports = _lines(
        feedback("early", at=timedelta(days=1)),
        feedback("late", at=timedelta(days=9)),
        feedback("withdrawn", at=timedelta(days=1)),
        feedback("withdrawn", at=timedelta(days=2), label="genuine"),
    )
    cutoff = 1_791_244_800_000  # 2026-10-06T00:00Z, between the reports

    assert confirmed_frauds(reports, cutoff) == {"early"}
    assert confirmed_frauds(reports, None) == {"early", "late"}
    assert confirmed_frauds([b"not json", *reports[:1]], None) == {"early"}


def test_the_classifier_trains_on_scored_records_and_verifies_on_load(
    scored_run: dict[str, Any], tmp_path: Path
) -> None:
    scored = str(scored_run["out"] / "scored-*.jsonl")
    paths = train_supervised(str(tmp_path / "model"), [scored], [scored_run["data"].feedback])

    artifact = load_artifact(paths.directory)
    assert artifact.kind == SUPERVISED
    assert artifact.feature_names == SUPERVISED_FEATURE_NAMES
    assert paths.model_version.startswith("supervised-")
    training = artifact.metadata["training"]
    assert training["rows"] == scored_run["summary"]["scored"]
    assert training["fraud_rows"] == scored_run["data"].counts["fraud"]
    scorer = load_scorer(paths.directory)
    assert isinstance(scorer, SupervisedScorer)
    assert scorer.score_batch([]).shape == (0,)


def test_the_pipeline_blends_the_supervised_model_and_ranks_better(
    scored_run: dict[str, Any], tmp_path: Path
) -> None:
    scored = str(scored_run["out"] / "scored-*.jsonl")
    model = tmp_path / "model"
    train_main(
        [
            f"--output_dir={model}",
            "--supervised",
            f"--scored={scored}",
            f"--feedback={scored_run['data'].feedback}",
        ]
    )
    data = scored_run["data"]
    summary = run(
        [
            *scored_run["base"],
            f"--feedback={data.feedback}",
            f"--output_dir={tmp_path / 'out'}",
            f"--model={model}",
        ]
    )

    assert str(summary["model"]).startswith("supervised-")
    assert_alerts_explained(tmp_path / "out", str(model))
    # In-sample, so only the wiring is proved here: the model's ranking is used and helps.
    rules_only = scored_run["summary"]["quality"]["average_precision"]
    assert summary["quality"]["average_precision"] > rules_only


def test_training_needs_both_classes_and_matching_files(
    scored_run: dict[str, Any], tmp_path: Path
) -> None:
    scored = str(scored_run["out"] / "scored-*.jsonl")
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match="both classes"):
        train_supervised(str(tmp_path / "m"), [scored], [str(empty)])
    with pytest.raises(ValueError, match="no file matches"):
        train_supervised(str(tmp_path / "m"), [str(tmp_path / "nothing-*.jsonl")], [str(empty)])


def test_a_supervised_artifact_with_other_features_is_refused(
    scored_run: dict[str, Any], tmp_path: Path
) -> None:
    scored = str(scored_run["out"] / "scored-*.jsonl")
    paths = train_supervised(str(tmp_path / "model"), [scored], [scored_run["data"].feedback])
    metadata = json.loads(Path(paths.metadata).read_text())
    metadata["feature_names"] = metadata["feature_names"][:-1]
    Path(paths.metadata).write_text(json.dumps(metadata))

    with pytest.raises(ArtifactError, match="feature names"):
        load_artifact(paths.directory)
