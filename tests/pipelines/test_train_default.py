"""python -m pipelines.train_default: the default anomaly model, trained on generated history."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ml.artifact import METADATA_FILENAME, MODEL_FILENAME
from pipelines.train_default import main


def test_command_line_writes_the_artifact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--output_dir", str(tmp_path / "m"), "--seed", "3", "--customers", "40", "--days", "5"]
    assert main(argv) == 0

    assert (tmp_path / "m" / MODEL_FILENAME).is_file()
    training = json.loads((tmp_path / "m" / METADATA_FILENAME).read_text())["training"]
    assert (training["generator"], training["seed"], training["days"]) == (
        "pipelines.synthetic",
        3,
        5,
    )
    assert "iforest-" in capsys.readouterr().err


def test_a_bad_value_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.train_default",
            "--output_dir",
            str(tmp_path),
            "--days=0",
        ],
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "pipelines.train_default: argument --days: invalid positive integer value: '0'\n"
    )
