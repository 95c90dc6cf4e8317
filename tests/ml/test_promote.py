"""Training on archived events, and promoting a candidate only if it is not worse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ml.promote import decide, main, promote
from ml.train import train_on_events
from pipelines.synthetic import generate_dataset
from pipelines.synthetic.archive import archive_file
from pipelines.warehouse.cli import main as warehouse
from pipelines.warehouse.migrate import migrate


def _metrics(average_precision: float, card_precision: float) -> dict[str, Any]:
    return {
        "blend": {
            "average_precision": average_precision,
            "card_precision_at_100": card_precision,
        }
    }


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("archive")
    dataset = generate_dataset(str(root), seed=3, customers=80, days=6)
    archive_file(dataset.events, root / "days")
    return root / "days", dataset.blacklist


def test_a_model_trains_on_the_archive_days_named(
    archive: tuple[Path, str], tmp_path: Path
) -> None:
    days, blacklist = archive
    paths = train_on_events(
        str(tmp_path / "a"), [str(days / "date=2026-10-0[1-3]" / "*.jsonl")], blacklist=blacklist
    )
    metadata = json.loads(Path(paths.metadata).read_text())
    assert metadata["training"]["files"] == 3
    assert metadata["training"]["rows"] > 100
    again = train_on_events(
        str(tmp_path / "b"), [str(days / "date=2026-10-0[1-3]" / "*.jsonl")], blacklist=blacklist
    )
    assert again.model_version == paths.model_version  # the same history, the same model
    with pytest.raises(ValueError, match="no file matches"):
        train_on_events(str(tmp_path / "c"), [str(days / "date=1999-*" / "*.jsonl")])


def test_not_worse_is_promoted_worse_is_kept() -> None:
    assert decide(_metrics(0.5, 0.3), None, 0.0) == (True, "no current model")
    assert decide(_metrics(0.5, 0.3), _metrics(0.5, 0.3), 0.0)[0] is True
    promoted, reason = decide(_metrics(0.49, 0.3), _metrics(0.5, 0.3), 0.0)
    assert promoted is False
    assert "average_precision 0.49 < 0.5" in reason
    assert decide(_metrics(0.49, 0.3), _metrics(0.5, 0.3), 0.02)[0] is True


def test_promotion_installs_the_artifact_keeps_the_previous_and_registers(
    archive: tuple[Path, str],
    tmp_path: Path,
    empty_dsn: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    days, _ = archive
    first = train_on_events(str(tmp_path / "first"), [str(days / "*" / "*.jsonl")], seed=1)
    second = train_on_events(str(tmp_path / "second"), [str(days / "*" / "*.jsonl")], seed=2)
    served = tmp_path / "models" / "production"
    decision = promote(first.directory, str(served), _metrics(0.4, 0.2), None)
    assert decision["decision"] == "promoted"
    assert json.loads((served / "metadata.json").read_text())["model_version"] == (
        first.model_version
    )
    # A worse candidate is kept out; the served model stays.
    kept = promote(second.directory, str(served), _metrics(0.3, 0.2), _metrics(0.4, 0.2))
    assert (kept["decision"], kept["current"]["model_version"]) == ("kept", first.model_version)
    # A better one replaces it, the old one kept for a rollback, through the command line.
    argv = ["--candidate", second.directory, "--model_dir", str(served)]
    argv += ["--candidate_metrics", json.dumps(_metrics(0.5, 0.2))]
    argv += ["--current_metrics", json.dumps(_metrics(0.4, 0.2))]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["decision"] == "promoted"
    assert json.loads((served / "metadata.json").read_text())["model_version"] == (
        second.model_version
    )
    previous = served.with_name("production.previous") / "metadata.json"
    assert json.loads(previous.read_text())["model_version"] == first.model_version
    assert served.is_symlink()  # switched atomically
    assert served.with_name("production.previous").is_symlink()
    # Both decisions in the registry, with the SHA-256 of the model file.
    migrate(empty_dsn)
    for recorded in (kept, printed):
        assert (
            warehouse(["register-model", "--dsn", empty_dsn, "--decision", json.dumps(recorded)])
            == 0
        )
    with psycopg.connect(empty_dsn) as connection:
        rows = connection.execute(
            "SELECT model_version, model_sha256, promoted, replaced_version, "
            "metrics -> 'blend' ->> 'average_precision' FROM silver.model_registry "
            "ORDER BY registry_id"
        ).fetchall()
    sha = json.loads((served / "metadata.json").read_text())["model_sha256"]
    assert rows == [
        (second.model_version, sha, False, first.model_version, "0.3"),
        (second.model_version, sha, True, first.model_version, "0.5"),
    ]


def test_a_plain_model_folder_is_replaced_by_the_served_link(
    archive: tuple[Path, str], tmp_path: Path
) -> None:
    days, _ = archive
    first = train_on_events(str(tmp_path / "first"), [str(days / "*" / "*.jsonl")], seed=1)
    second = train_on_events(str(tmp_path / "second"), [str(days / "*" / "*.jsonl")], seed=2)
    served = tmp_path / "default"
    served.mkdir()  # a model folder made by hand, as pipelines.train_default makes models/default
    for name in ("metadata.json", "model.joblib"):
        (served / name).write_bytes((Path(first.directory) / name).read_bytes())
    decision = promote(second.directory, str(served), _metrics(0.5, 0.2), _metrics(0.4, 0.2))
    assert decision["current"]["model_version"] == first.model_version
    assert served.is_symlink()
    previous = json.loads((tmp_path / "default.previous" / "metadata.json").read_text())
    assert previous["model_version"] == first.model_version
    with pytest.raises(ValueError, match="not evaluated"):
        promote(second.directory, str(served), {}, None)


NOT_MEASURED = {"events": 412, "note": "no scores or a single class"}


def _promote_command(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml.promote", *arguments], capture_output=True, text=True
    )


def test_an_evaluation_without_scores_is_refused_even_for_a_first_model(
    archive: tuple[Path, str], tmp_path: Path
) -> None:
    days, _ = archive
    candidate = train_on_events(str(tmp_path / "c"), [str(days / "*" / "*.jsonl")], seed=1)
    served = tmp_path / "production"
    unmeasured = json.dumps({"rules only": NOT_MEASURED, "blend": NOT_MEASURED})
    base = ["--candidate", candidate.directory, "--model_dir", str(served)]
    first = _promote_command(*base, "--candidate_metrics", unmeasured)
    assert (first.returncode, first.stdout) == (3, "")
    assert first.stderr == (
        "ml.promote: the candidate's evaluation has no scores (no scores or a single class): "
        "nothing promoted\n"
    )
    assert not served.exists()  # no first model on an evaluation that measured nothing
    # Nor against a current model, whichever of the two measured nothing.
    measured = json.dumps(_metrics(0.5, 0.2))
    for candidate_metrics, current_metrics in ((unmeasured, measured), (measured, unmeasured)):
        done = _promote_command(
            *base,
            "--candidate_metrics",
            candidate_metrics,
            "--current_metrics",
            current_metrics,
        )
        assert done.returncode == 3, done.stderr
        assert done.stderr.startswith("ml.promote: ")
        assert done.stderr.count("\n") == 1
    assert not served.exists()


def test_promote_mistakes_are_one_line(tmp_path: Path) -> None:
    metrics = json.dumps(_metrics(0.5, 0.2))
    no_model = _promote_command(
        "--candidate", str(tmp_path / "none"), "--model_dir", str(tmp_path / "served"),
        "--candidate_metrics", metrics,
    )  # fmt: skip
    assert no_model.returncode == 1
    assert no_model.stderr.startswith("ml.promote: ")
    assert no_model.stderr.count("\n") == 1
    bad_json = _promote_command(
        "--candidate", str(tmp_path), "--model_dir", str(tmp_path), "--candidate_metrics", "{"
    )
    assert bad_json.returncode == 2
    assert (
        bad_json.stderr
        == "ml.promote: argument --candidate_metrics: invalid JSON object value: '{'\n"
    )
