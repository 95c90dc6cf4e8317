"""The local cluster carries Beam's Flink runner, so a job ships no jars with it.

Every other Flink test runs on this: were the runner missing from the cluster's classpath,
their jobs would fail to load Beam's operators.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

from pipelines.flink import with_flink_defaults
from tests.services import service_script

DETECTOR = "streamflow.beam.MinimalStaging"
REPO = Path(__file__).resolve().parents[2]


def _classpath(flink_master: str) -> list[str]:
    with urllib.request.urlopen(f"http://{flink_master}/jobmanager/environment", timeout=10) as r:
        return list(json.load(r)["classpath"])


def test_a_job_on_the_local_cluster_ships_no_jars(flink_master: str) -> None:
    jars = [path.rsplit("/", 1)[-1] for path in _classpath(flink_master)]
    # The runner and the Kafka IO are Flink's own classes here; a library Flink's
    # distribution bundles keeps Flink's copy alone.
    assert "beam-runners-flink-1.19-2.62.0.jar" in jars
    assert "beam-sdks-java-io-kafka-2.62.0.jar" in jars
    assert not any(jar.startswith("commons-lang3-") for jar in jars)
    assert service_script("flink", "staging-detector") == DETECTOR

    argv = with_flink_defaults(["--runner=FlinkRunner", f"--flink_master={flink_master}"])

    assert f"--pipeline_resources_detector_factory_class={DETECTOR}" in argv


def test_a_checkout_reached_through_a_link_ships_no_jars_either(tmp_path: Path) -> None:
    # A path to the project that is not its canonical one (a git worktree whose .cache links
    # here, a symlinked home): shipping the runner's jars anyway would load gRPC's native
    # transport a second time and break the TaskManager for every later job.
    linked = tmp_path / "streamflow"
    linked.symlink_to(REPO, target_is_directory=True)
    detector = subprocess.run(
        [str(linked / "scripts" / "flink.sh"), "staging-detector"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    assert detector == DETECTOR
