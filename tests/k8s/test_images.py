"""The pipeline-jar build of the Flink image (k8s/images/build_pipeline_jar.py).

The images cannot be built here (no container registry), so this runs the build script's Python:
the production options construct the pipeline graph, and a model that the workers could not use
stops the build instead of shipping a rules-only job.
"""

from __future__ import annotations

import re
import shutil
from distutils.core import run_setup
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PortableOptions

from ml.artifact import MODEL_FILENAME
from pipelines.options import LaunchError
from pipelines.train_default import train_model
from tests.k8s.images import (
    FLINK_DOCKERFILE,
    PIPELINE_ARGS,
    WORKER_DOCKERFILE,
    dockerfile_copies,
    dockerfile_instructions,
    image_script,
    pipeline_args,
)
from tests.k8s.render import K8S_DIR
from tests.services import service_script

REPO = K8S_DIR.parent

SCRIPT_IN_IMAGE = "/opt/streamflow/bin/build_pipeline_jar.py"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    train_model(str(folder), seed=3, customers=150, days=10)
    return folder


@pytest.fixture(scope="module")
def blacklist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reference") / "blacklist.csv"
    path.write_text("kind,id\ncustomer,C-1\n", "utf-8")
    return path


def _production_args(model: Path, blacklist: Path, expansion_service: str = "") -> list[str]:
    """The image's options, with what the build reads (rules, model, blacklist) and the Kafka
    expansion service it asks on this machine."""
    local: dict[str, object] = {
        "--rules": K8S_DIR / "config" / "rules.yaml",
        "--model": f"{model}/",
        "--blacklist": blacklist,
    }
    if expansion_service:
        local["--kafka_expansion_service"] = expansion_service
    args = [arg for arg in pipeline_args() if arg.split("=", 1)[0] not in local]
    return [*args, *(f"{name}={value}" for name, value in local.items())]


@pytest.mark.kafka
def test_the_production_options_construct_the_pipeline(model_dir: Path, blacklist: Path) -> None:
    # The build stage runs Beam's Kafka expansion service; here, the project's local one. The
    # broker is not contacted to build the graph.
    service_script("kafka", "start", timeout=900)
    local_expansion = service_script("kafka", "expansion-address")
    args = _production_args(model_dir, blacklist, local_expansion)
    pipeline = image_script("build_pipeline_jar").construct(args)
    labels = {transform.full_label for transform in pipeline.transforms_stack[0].parts}
    assert {"ReadEvents", "ParseEvents", "DetectFraud", "ScoreAnomalies"} <= labels
    # The live path: events from the Kafka topic, alerts and dead letters published to theirs.
    assert {"Publish_alerts", "Publish_dlq"} <= labels
    urns = {t.spec.urn for t in pipeline.to_runner_api().components.transforms.values()}
    assert "beam:transform:read:v1" in urns
    portable = pipeline.options.view_as(PortableOptions)
    assert (portable.environment_type, portable.environment_config) == (
        "EXTERNAL",
        "localhost:50000",
    )


def test_a_corrupt_model_fails_the_build(model_dir: Path, blacklist: Path, tmp_path: Path) -> None:
    build = image_script("build_pipeline_jar")
    corrupt = tmp_path / "corrupt"
    shutil.copytree(model_dir, corrupt)
    (corrupt / MODEL_FILENAME).write_bytes(b"not a model")
    with pytest.raises(LaunchError, match="checksum mismatch"):
        build.construct(_production_args(corrupt, blacklist))


def test_a_missing_model_fails_the_build_with_its_location(blacklist: Path, tmp_path: Path) -> None:
    build = image_script("build_pipeline_jar")
    args_file = tmp_path / "fraud-pipeline.args"
    args_file.write_text("\n".join(_production_args(tmp_path / "nowhere", blacklist)), "utf-8")
    with pytest.raises(SystemExit, match=r"build_pipeline_jar: --model .*nowhere.*cannot read"):
        build.main([str(args_file)])


def test_the_images_ship_and_run_the_build_script() -> None:
    assert ("k8s/images/build_pipeline_jar.py", SCRIPT_IN_IMAGE) in dockerfile_copies(
        WORKER_DOCKERFILE
    )
    (build,) = [
        words for words in dockerfile_instructions(FLINK_DOCKERFILE) if SCRIPT_IN_IMAGE in words
    ]
    assert build[build.index(SCRIPT_IN_IMAGE) + 1] == f"/build/{PIPELINE_ARGS.name}"
    assert ("k8s/config/fraud-pipeline.args", f"/build/{PIPELINE_ARGS.name}") in (
        dockerfile_copies(FLINK_DOCKERFILE)
    )


def _dockerignore_keeps(dockerfile: Path) -> set[str]:
    """The paths the image's .dockerignore lets into the build context (``!path`` lines)."""
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
    lines = ignore.read_text("utf-8").splitlines()
    return {line[1:].rstrip("/") for line in lines if line.startswith("!")}


def test_the_worker_image_copies_every_folder_the_package_is_built_from() -> None:
    # pip install "." in the image fails if a folder setup.py names is not in the image.
    distribution = run_setup(str(REPO / "setup.py"), stop_after="init")
    mapped = distribution.package_dir or {}
    folders = {
        mapped.get(name, name.replace(".", "/")).split("/")[0] for name in distribution.packages
    }
    copied = {source.rstrip("/") for source, _ in dockerfile_copies(WORKER_DOCKERFILE)}
    assert folders == {"pipelines", "transforms", "ml", "console", "sql"}
    assert folders <= copied
    assert folders <= _dockerignore_keeps(WORKER_DOCKERFILE)


def test_the_worker_image_can_anchor_the_control_topics() -> None:
    # The JobManager's init container runs python -m pipelines.anchor_controls in this image
    # (k8s/base/flinkdeployment.yaml): it needs the Kafka client and the jar's options file.
    (install,) = [
        words
        for words in dockerfile_instructions(WORKER_DOCKERFILE)
        if words[0] == "RUN" and "install" in words
    ]
    (project,) = [word for word in install if word.startswith(".[")]
    assert {"ml", "kafka"} <= set(project[2:-1].split(","))
    copied = [source for source, _ in dockerfile_copies(WORKER_DOCKERFILE)]
    assert "k8s/config/fraud-pipeline.args" in copied
    assert "k8s/config/fraud-pipeline.args" in _dockerignore_keeps(WORKER_DOCKERFILE)


def test_the_build_and_the_anchor_command_read_the_args_file_alike() -> None:
    from pipelines.anchor_controls import read_args

    assert image_script("build_pipeline_jar").read_args is read_args


def test_every_beam_part_is_one_release() -> None:
    # Beam guarantees nothing between an SDK and a job server of different releases.
    pinned = re.search(r'"apache-beam==([0-9.]+)"', (REPO / "setup.py").read_text())
    assert pinned
    release = pinned.group(1)
    assert f"\napache-beam=={release}\n" in (REPO / "requirements/constraints.txt").read_text()
    flink_script = (REPO / "scripts/flink.sh").read_text()
    assert f'BEAM_RUNNER_VERSION:-{release}}}"' in flink_script
    worker = (REPO / "k8s/images/worker.Dockerfile").read_text()
    assert f"FROM apache/beam_python3.11_sdk:{release}\n" in worker
    assert f'"apache-beam[aws]=={release}"' in worker
    job_server = re.findall(
        r"job-server-([0-9.]+)\.jar", (REPO / "k8s/images/flink.Dockerfile").read_text()
    )
    assert job_server == [release]
