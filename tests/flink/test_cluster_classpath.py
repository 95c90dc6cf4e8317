"""The local cluster carries Beam's Flink runner, so a job ships no jars with it.

Every other Flink test runs on this: were the runner missing from the cluster's classpath,
their jobs would fail to load Beam's operators.
"""

from __future__ import annotations

from pipelines.flink import with_flink_defaults
from tests.services import service_script

DETECTOR = "streamflow.beam.MinimalStaging"


def test_a_job_on_the_local_cluster_ships_no_jars(flink_master: str) -> None:
    assert service_script("flink", "staging-detector") == DETECTOR

    argv = with_flink_defaults(["--runner=FlinkRunner", f"--flink_master={flink_master}"])

    assert f"--pipeline_resources_detector_factory_class={DETECTOR}" in argv
