"""``python -m pipelines.models`` on a real PostgreSQL and broker: a model version is checked,
registered and published together, listed, and exported with the rules versions as the file a
replay reads (which then scores with it from its time); a bad one is refused with one line and
leaves nothing behind; rolling back is registering the earlier version again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg
import pytest

from ml.artifact import load_artifact
from pipelines.models.cli import main
from pipelines.rules.cli import main as rules_main
from pipelines.train_default import train_model
from tests.console.relay_check import read_topic
from tests.kafka.live import Topics
from tests.kafka.registration import soon
from transforms.domain.config import default_rules
from transforms.domain.model_registry import ModelChange
from transforms.domain.rules_registry import RulesChange
from transforms.domain.scoring_registry import parse_registered_change
from transforms.read import read_rules_changes

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("retrained")
    train_model(str(folder), seed=4, customers=150, days=10)
    return folder


def _register(location: Path | str, topics: Topics, *extra: str) -> int:
    return main(
        ["register", str(location), f"--rules_topic={topics.rules}", "--author=ana", *extra]
    )


def _registered_rows(dsn: str) -> int:
    with psycopg.connect(dsn) as connection:
        row = connection.execute(
            "SELECT count(*) FROM silver.model_registry WHERE effective_from IS NOT NULL"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_model_version_is_registered_published_listed_and_exported_with_the_rules(
    registry: str,
    topics: Topics,
    bootstrap_servers: str,
    model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    artifact = load_artifact(str(model_dir))
    first, later = soon(120), soon(600)
    monkeypatch.chdir(model_dir.parent)
    assert _register(model_dir.name, topics, f"--effective_from={first}", "--note=retrained") == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["model_version"] == artifact.model_version
    assert printed["registered"].startswith("model-")
    assert printed["location"] == str(model_dir)
    rules = tmp_path / "lower.yaml"
    rules.write_text("alert_threshold: 0.55\n")
    register_rules = ["register", str(rules), f"--rules_topic={topics.rules}", "--author=bo"]
    assert rules_main([*register_rules, f"--effective_from={later}"]) == 0
    # Rolling back: the same artifact again, from a later time, is a registration of its own.
    assert _register(model_dir, topics, f"--effective_from={soon(900)}") == 0
    capsys.readouterr()

    model_record, _, again = read_topic(bootstrap_servers, topics.rules, 3)
    change = parse_registered_change(model_record.value(), default_rules())
    assert isinstance(change, ModelChange)
    assert model_record.key().startswith(b"model-")
    assert model_record.timestamp()[1] == change.registered_at_ms
    assert change.location == str(model_dir)  # made absolute: workers resolve it themselves
    assert (change.model_version, change.sha256) == (
        artifact.model_version,
        artifact.metadata["model_sha256"],
    )
    assert (change.author, change.note) == ("ana", "retrained")
    assert again.key() != model_record.key()

    assert main(["list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 3
    assert listed[1].split("\t")[1] == artifact.model_version
    assert listed[1].split("\t")[5:] == ["yes", str(model_dir), "retrained", "champion"]
    with psycopg.connect(registry) as connection:
        row = connection.execute(
            "SELECT promoted, author FROM silver.model_registry ORDER BY registry_id LIMIT 1"
        ).fetchone()
    assert row == (True, "ana")

    exported = tmp_path / "registry.jsonl"
    assert rules_main(["export", f"--output={exported}"]) == 0
    kinds = [json.loads(line).get("kind", "rules") for line in exported.read_text().splitlines()]
    assert kinds == ["model", "rules", "model"]  # in the order they take effect
    read = read_rules_changes(str(exported), default_rules())
    assert read[0] == change
    assert isinstance(read[1], RulesChange)


@pytest.mark.parametrize(
    ("damage", "effective_in_s", "message"),
    [
        (None, 5, "sooner than the grace a live job needs (30 s)"),
        ("missing", 120, "cannot read the metadata"),
        ("replaced", 120, "SHA-256 checksum mismatch"),
        ("features", 120, "feature names"),
    ],
)
def test_a_bad_model_version_is_refused_with_one_line_and_nothing_registered(
    registry: str,
    topics: Topics,
    model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: str | None,
    effective_in_s: float,
    message: str,
) -> None:
    candidate = tmp_path / "candidate"
    shutil.copytree(model_dir, candidate)
    if damage == "missing":
        shutil.rmtree(candidate)
    elif damage == "replaced":
        (candidate / "model.joblib").write_bytes(b"another model")
    elif damage == "features":
        metadata = json.loads((candidate / "metadata.json").read_text())
        metadata["feature_names"] = ["a_feature_of_another_release"]
        (candidate / "metadata.json").write_text(json.dumps(metadata))
    assert _register(candidate, topics, f"--effective_from={soon(effective_in_s)}") == 2
    error = capsys.readouterr().err
    assert error.startswith("pipelines.models: register: ")
    assert message in error
    assert error.count("\n") == 1
    assert _registered_rows(registry) == 0


def test_a_model_challenger_is_registered_to_shadow(
    registry: str,
    topics: Topics,
    bootstrap_servers: str,
    model_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _register(model_dir, topics, f"--effective_from={soon(120)}", "--challenger") == 0
    assert json.loads(capsys.readouterr().out)["role"] == "challenger"
    [record] = read_topic(bootstrap_servers, topics.rules, 1)
    change = parse_registered_change(record.value(), default_rules())
    assert isinstance(change, ModelChange)
    assert (change.role, change.effective_until_ms) == ("challenger", None)
