"""Airflow's Helm values (k8s/platform/airflow/values*.yaml).

The chart's values.schema.json is not on a reachable registry (the chart is published on
airflow.apache.org and Artifact Hub only), so these checks stand in for it: the keys are among
the chart's documented top-level sections, the environment files only override what values.yaml
sets, and what the DAGs read (connections, the pipeline's interpreter) comes from where the
code expects it, with no secret inline.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.k8s.images import dockerfile_instructions
from tests.k8s.overlays import (
    AIRFLOW_DIR,
    airflow_values,
    example_secrets,
    merged_airflow_values,
    one,
)
from tests.k8s.render import K8S_DIR
from tests.k8s.schemas import ROOT

# The chart's top-level sections these values use, as its parameters reference names them.
CHART_SECTIONS = {
    "images", "airflowVersion", "defaultAirflowTag", "executor", "dags", "config", "postgresql",
    "data", "pgbouncer", "redis", "statsd", "jwtSecretName", "fernetKeySecretName", "secret",
    "extraEnv", "env", "securityContexts", "scheduler", "apiServer", "triggerer", "dagProcessor",
    "migrateDatabaseJob", "webserver", "networkPolicies",
}  # fmt: skip
COMPONENTS = ("scheduler", "apiServer", "triggerer", "dagProcessor", "migrateDatabaseJob")
AIRFLOW_DOCKERFILE = K8S_DIR / "images" / "airflow.Dockerfile"


def _keys(node: Any, prefix: str = "") -> set[str]:
    if not isinstance(node, dict):
        return {prefix}
    return {key for name, value in node.items() for key in _keys(value, f"{prefix}.{name}")}


def test_values_use_only_the_charts_sections() -> None:
    assert set(airflow_values()) <= CHART_SECTIONS


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_environment_values_only_override_what_values_sets(environment: str) -> None:
    assert _keys(airflow_values(environment)) <= _keys(airflow_values())


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_every_component_is_sized(environment: str) -> None:
    values = merged_airflow_values(environment)
    for component in COMPONENTS:
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(values[component]["resources"][kind]), component


def test_local_executor_one_scheduler_and_its_work_volume() -> None:
    values = airflow_values()
    assert values["executor"] == "LocalExecutor"
    for environment in ("dev", "prod"):
        assert merged_airflow_values(environment)["scheduler"]["replicas"] == 1
    (volume,) = values["scheduler"]["extraVolumes"]
    claim = volume["persistentVolumeClaim"]["claimName"]
    for overlay in ("dev", "prod"):
        pvc = one(overlay, "PersistentVolumeClaim", claim)
        assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    # The repository layout of the image: streamflow_tasks.py's REPO is the folder above airflow/.
    src = "/opt/streamflow/src"
    assert values["config"]["core"]["dags_folder"] == f"{src}/airflow/dags"
    assert values["config"]["core"]["plugins_folder"] == f"{src}/airflow/plugins"
    mounts = {mount["mountPath"] for mount in values["scheduler"]["extraVolumeMounts"]}
    assert f"{src}/models" in mounts


def test_the_image_is_pinned_and_built_with_the_pipelines_interpreter() -> None:
    values = airflow_values()
    image = values["images"]["airflow"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", image["tag"])
    lock = (ROOT / "requirements" / "airflow.lock").read_text("utf-8")
    assert f"apache-airflow=={values['airflowVersion']}" in lock
    instructions = dockerfile_instructions(AIRFLOW_DOCKERFILE)
    assert ["FROM", f"apache/airflow:{values['airflowVersion']}-python3.11"] in instructions
    env = {var["name"]: var["value"] for var in values["env"]}
    assert [
        "ENV",
        f"STREAMFLOW_PIPELINE_PYTHON={env['STREAMFLOW_PIPELINE_PYTHON']}",
    ] in instructions
    assert (AIRFLOW_DIR.parent.parent / "images" / "airflow.Dockerfile.dockerignore").exists()


def test_connections_come_from_secrets_by_the_names_the_dags_use() -> None:
    notify = (ROOT / "airflow" / "plugins" / "streamflow_notify.py").read_text("utf-8")
    warehouse = re.search(r'WAREHOUSE_CONNECTION = "([^"]+)"', notify)
    assert warehouse, "streamflow_notify.WAREHOUSE_CONNECTION"
    values = airflow_values()
    secrets = example_secrets()
    by_env = {entry["envName"]: entry for entry in values["secret"]}
    entry = by_env[f"AIRFLOW_CONN_{warehouse[1].upper()}"]
    assert entry["secretKey"] in secrets[entry["secretName"]]["stringData"]
    assert "AIRFLOW_CONN_STREAMFLOW_WEBHOOK" in values["extraEnv"]
    assert "optional: true" in values["extraEnv"]
    assert not [var for var in values["env"] if var["name"].startswith("AIRFLOW_CONN_")]
    for name in ("metadataSecretName",):
        assert "connection" in secrets[values["data"][name]]["stringData"]
    for name in ("jwtSecretName", "fernetKeySecretName"):
        assert values[name] in secrets
    text = (AIRFLOW_DIR / "values.yaml").read_text("utf-8")
    assert not re.search(r"://[^/\s]*:[^@/\s]+@", text)


def test_pods_meet_the_restricted_pod_security_standard() -> None:
    contexts = airflow_values()["securityContexts"]
    assert contexts["pod"]["runAsNonRoot"] is True
    assert contexts["pod"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert contexts["containers"]["allowPrivilegeEscalation"] is False
    assert contexts["containers"]["capabilities"]["drop"] == ["ALL"]
    # The chart's own pods without these settings are off.
    values = airflow_values()
    assert values["statsd"]["enabled"] is False
    assert values["redis"]["enabled"] is False
    assert values["webserver"]["defaultUser"]["enabled"] is False  # the create-user Job


def test_the_network_and_the_kafka_listener_know_the_charts_pods() -> None:
    values = airflow_values()
    kafka = [var["value"] for var in values["env"] if var["name"] == "STREAMFLOW_KAFKA_BOOTSTRAP"]
    assert kafka == ["streamflow-kafka-bootstrap.streamflow.svc:9092"]
    assert values["scheduler"]["labels"] == {"streamflow.io/flink-rest-client": "true"}
    assert values["networkPolicies"]["enabled"] is False  # ours: k8s/platform/network/airflow.yaml
