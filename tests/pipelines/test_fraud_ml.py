"""The pipeline with the anomaly model (FR-006) on FnApiRunner."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

import pipelines.fraud as fraud
from ml.artifact import (
    METADATA_FILENAME,
    MODEL_FILENAME,
    ArtifactFiles,
    load_artifact,
    read_artifact_files,
)
from pipelines import launcher
from pipelines.options import FN_API_RUNNER, LaunchError
from pipelines.synthetic import generate_dataset
from pipelines.train_default import train_model
from tests import memory_filesystem
from tests.collect import new_collector, take
from tests.ml.reasons_check import assert_alerts_explained
from tests.output_files import read_records
from transforms.anomaly import ScoreAnomalies
from transforms.domain.config import default_rules, rules_from_text
from transforms.domain.model_registry import ModelChange, encode_model_change


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = str(tmp_path_factory.mktemp("model"))
    train_model(folder, seed=3, customers=150, days=10)
    return folder


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_dataset(str(tmp_path_factory.mktemp("data")), seed=21, customers=100, days=10)


def _run(dataset: Any, out: Path, *extra: str) -> dict[str, Any]:
    return fraud.run(
        [
            f"--input={dataset.events}",
            f"--labels_file={dataset.labels}",
            f"--blacklist={dataset.blacklist}",
            f"--output_dir={out}",
            *extra,
        ]
    )


def test_scored_output_carries_the_blended_ml_score_and_model_version(
    dataset: Any, model_dir: str, tmp_path: Path
) -> None:
    summary = _run(dataset, tmp_path, f"--model={model_dir}")
    version = load_artifact(model_dir).model_version
    rules = default_rules()
    scored = read_records(tmp_path, "scored")
    assert len(scored) == summary["scored"] > 0
    for record in scored:
        assert record["model_version"] == version
        assert 0.0 <= record["ml_score"] <= 1.0
        expected = rules.ml_alpha * record["ml_score"] + (1 - rules.ml_alpha) * record["rule_score"]
        assert record["fraud_score"] == pytest.approx(expected, abs=2e-6)
        assert ("FR-006" in record["rules_triggered"]) == (record["ml_score"] >= rules.ml_threshold)
    assert any("FR-006" in r["rules_triggered"] for r in scored)
    assert all(a["model_version"] == version for a in read_records(tmp_path, "alerts"))
    assert summary["quality_rules_only"]["labelled"] == summary["quality"]["labelled"]
    assert summary["model"] == version
    assert_alerts_explained(tmp_path, model_dir)


def _broken_copy(model_dir: str, folder: Path) -> Path:
    shutil.copytree(model_dir, folder)
    (folder / "model.joblib").write_bytes(b"not a model")
    return folder


def test_a_named_model_that_is_unusable_stops_the_run_with_the_reason(
    dataset: Any, model_dir: str, tmp_path: Path
) -> None:
    broken = _broken_copy(model_dir, tmp_path / "broken-model")
    with pytest.raises(SystemExit) as stopped:
        fraud.main(
            [f"--input={dataset.events}", f"--output_dir={tmp_path / 'out'}", f"--model={broken}"]
        )
    assert str(stopped.value.code).startswith(f"pipelines.fraud: --model {broken}: ")
    assert "checksum mismatch" in str(stopped.value.code)
    assert not (tmp_path / "out").exists(), "nothing ran"


def _model_version_file(model_dir: str, location: str, path: Path) -> Path:
    artifact = load_artifact(model_dir)
    change = ModelChange(
        artifact.model_version,
        artifact.metadata["model_sha256"],
        location,
        1_800_000_000_000,
        1_700_000_000_000,
    )
    path.write_bytes(encode_model_change(change) + b"\n")
    return path


@pytest.mark.parametrize(
    ("damage", "message"), [("missing", "cannot read the metadata"), ("replaced", "checksum")]
)
def test_a_registered_model_version_that_is_unusable_stops_the_launch_in_one_line(
    dataset: Any, model_dir: str, tmp_path: Path, damage: str, message: str
) -> None:
    location = tmp_path / "registered"
    if damage == "replaced":
        _broken_copy(model_dir, location)
    registry = _model_version_file(model_dir, str(location), tmp_path / "registry.jsonl")
    with pytest.raises(SystemExit) as stopped:
        fraud.main(
            [
                f"--input={dataset.events}",
                f"--output_dir={tmp_path / 'out'}",
                f"--rules_changes={registry}",
            ]
        )
    said = str(stopped.value.code)
    assert said.startswith("pipelines.fraud: --rules_changes: model version ")
    assert message in said
    assert "\n" not in said
    assert not (tmp_path / "out").exists(), "nothing ran"


def test_the_launcher_ships_a_registered_models_bytes_with_the_job(
    model_dir: str, tmp_path: Path
) -> None:
    registry = _model_version_file(model_dir, model_dir, tmp_path / "registry.jsonl")
    options = PipelineOptions([f"--rules_changes={registry}", "--no_model"])
    reference = launcher.read_reference_data(options.view_as(fraud.FraudOptions))
    [(reference_key, files)] = reference.registered_models.items()
    assert reference_key[1] == model_dir
    assert files.model == (Path(model_dir) / MODEL_FILENAME).read_bytes()


def test_a_named_model_folder_that_is_missing_stops_the_run(dataset: Any, tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match=r"nowhere.*cannot read the metadata"):
        _run(dataset, tmp_path / "out", f"--model={tmp_path / 'nowhere'}")


def test_an_unusable_model_at_the_default_location_scores_rules_only(
    dataset: Any,
    model_dir: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = _broken_copy(model_dir, tmp_path / "default-model")
    monkeypatch.setattr(launcher, "DEFAULT_MODEL_DIR", str(broken))
    summary = _run(dataset, tmp_path / "out")
    scored = read_records(tmp_path / "out", "scored")
    assert len(scored) == summary["scored"] > 0
    assert all(r["ml_score"] is None and r["model_version"] is None for r in scored)
    assert summary["model"] is None
    assert any(
        m.startswith(f"the default model at {broken}: ") and m.endswith("rules only")
        for m in caplog.messages
    )


def test_a_worker_given_an_unusable_model_scores_rules_only_not_a_crash(
    dataset: Any, model_dir: str, tmp_path: Path
) -> None:
    # The launcher verifies the model, but a worker with other libraries could still refuse it.
    _run(dataset, tmp_path, "--no_model")
    rule_scored = read_records(tmp_path, "scored")[:50]
    files = read_artifact_files(model_dir)
    corrupt = ArtifactFiles(files.source, files.metadata, b"not a model")
    name, collect = new_collector()
    with TestPipeline(runner=FN_API_RUNNER, options=PipelineOptions([])) as p:
        (
            p
            | beam.Create(rule_scored)
            | ScoreAnomalies(corrupt, default_rules())
            | beam.Map(lambda r: (r["transaction_id"], r["ml_score"], r["fraud_score"]))
            | beam.Map(collect)
        )
    expected = [(r["transaction_id"], None, r["fraud_score"]) for r in rule_scored]
    assert sorted(take(name)) == sorted(expected)


def test_scores_do_not_depend_on_how_records_are_batched(
    dataset: Any, model_dir: str, tmp_path: Path
) -> None:
    _run(dataset, tmp_path, "--no_model")
    rule_scored = read_records(tmp_path, "scored")[:300]
    rules = default_rules()

    def score_with(max_batch_size: int) -> list[Any]:
        name, collect = new_collector()
        with TestPipeline(runner=FN_API_RUNNER, options=PipelineOptions([])) as p:
            (
                p
                | beam.Create(rule_scored)
                | ScoreAnomalies(
                    read_artifact_files(model_dir), rules, max_batch_size=max_batch_size
                )
                | beam.Map(lambda r: (r["transaction_id"], r["ml_score"], r["fraud_score"]))
                | beam.Map(collect)
            )
        return sorted(take(name))

    one_by_one = score_with(1)
    assert len(one_by_one) == 300
    assert score_with(1024) == one_by_one


def test_the_embedded_run_trains_the_default_model_when_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = tmp_path / "models" / "default"
    monkeypatch.setattr(launcher, "DEFAULT_MODEL_DIR", str(default))
    summary = fraud.run([f"--output_dir={tmp_path / 'out'}", "--customers=40", "--days=5"])
    assert summary["model"] == load_artifact(str(default)).model_version
    assert summary["quality"] is not None
    assert summary["quality_rules_only"] is not None


def test_the_model_travels_inside_the_pipeline_not_as_a_launcher_path(
    dataset: Any, model_dir: str, tmp_path: Path
) -> None:
    # A remote worker (Flink, Kubernetes) cannot open the launcher's folder: once the pipeline
    # is built, the folder must no longer be needed.
    shipped = tmp_path / "model"
    shutil.copytree(model_dir, shipped)
    options = PipelineOptions(
        [
            f"--input={dataset.events}",
            f"--blacklist={dataset.blacklist}",
            f"--output_dir={tmp_path / 'out'}",
            f"--model={shipped}",
            f"--runner={FN_API_RUNNER}",
        ]
    )
    pipeline = beam.Pipeline(options=options)
    fraud_options = options.view_as(fraud.FraudOptions)
    fraud.build_pipeline(pipeline, fraud_options, launcher.read_reference_data(fraud_options))
    shutil.rmtree(shipped)
    pipeline.run().wait_until_finish()
    scored = read_records(tmp_path / "out", "scored")
    assert scored
    assert all(r["ml_score"] is not None for r in scored)
    assert {r["model_version"] for r in scored} == {load_artifact(model_dir).model_version}


def test_inputs_and_reference_files_are_read_through_beam_filesystems(
    dataset: Any, model_dir: str, tmp_path: Path
) -> None:
    # memtest:// is open only to Beam's FileSystems: open() would fail on every one of these.
    override = b"alert_threshold: 0.9\n"
    paths = {
        "input": memory_filesystem.put("data/events.jsonl", Path(dataset.events).read_bytes()),
        "blacklist": memory_filesystem.put(
            "ref/blacklist.csv", Path(dataset.blacklist).read_bytes()
        ),
        "rules": memory_filesystem.put("ref/rules.yaml", override),
        "model": "memtest://models/m",
    }
    for name in (METADATA_FILENAME, MODEL_FILENAME):
        memory_filesystem.put(f"models/m/{name}", (Path(model_dir) / name).read_bytes())
    try:
        summary = fraud.run(
            [*(f"--{option}={path}" for option, path in paths.items()), f"--output_dir={tmp_path}"]
        )
    finally:
        memory_filesystem.clear()
    scored = read_records(tmp_path, "scored")
    assert len(scored) == summary["scored"] == dataset.counts["valid"]
    assert summary["model"] == load_artifact(model_dir).model_version
    assert summary["rules_version"] == rules_from_text(override.decode()).rules_version
    assert any("FR-005" in record["rules_triggered"] for record in scored)
    assert all(alert["fraud_score"] >= 0.9 for alert in read_records(tmp_path, "alerts"))


def test_a_model_on_a_filesystem_beam_does_not_have_stops_the_run(
    dataset: Any, tmp_path: Path
) -> None:
    with pytest.raises(LaunchError, match=r"^--model nosuch://models/m: .*nosuch://"):
        _run(dataset, tmp_path, "--model=nosuch://models/m")
