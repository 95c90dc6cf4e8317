"""Every object of both overlays against its kind's schema: the operators' CRDs
(operator_crds.py: Strimzi, CloudNativePG and its Barman Cloud plugin, prometheus-operator; the
Flink operator's from schemas.py) applied as the API server applies them, and Kubernetes' own
schemas for the core kinds. A broken copy of an object of each operator kind must be rejected:
these tests fail if the check accepts anything.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from tests.k8s import operator_crds
from tests.k8s.overlays import OVERLAYS, build, objects
from tests.k8s.render import K8S_DIR, Manifest, load_documents
from tests.k8s.schemas import crd_errors, kubernetes_errors

CORE_GROUPS = {"v1", "apps/v1", "batch/v1", "policy/v1", "networking.k8s.io/v1"}
CORE_GROUPS |= {"rbac.authorization.k8s.io/v1"}


def _errors(
    manifest: Manifest, flinkdeployment_validator: jsonschema.Draft202012Validator
) -> list[str]:
    if manifest["kind"] == "FlinkDeployment":
        return crd_errors(flinkdeployment_validator, manifest)
    if manifest["apiVersion"] in CORE_GROUPS:
        return kubernetes_errors(manifest)
    return crd_errors(operator_crds.validator(manifest), manifest)


def _cases() -> list[Any]:
    return [
        pytest.param(overlay, index, id=f"{overlay}-{doc['kind']}/{doc['metadata']['name']}")
        for overlay in OVERLAYS
        for index, doc in enumerate(build(overlay))
    ]


@pytest.mark.parametrize(("overlay", "index"), _cases())
def test_every_object_of_the_overlays_matches_its_schema(
    overlay: str, index: int, flinkdeployment_validator: jsonschema.Draft202012Validator
) -> None:
    assert _errors(build(overlay)[index], flinkdeployment_validator) == []


def test_every_kind_of_the_overlays_has_a_schema() -> None:
    kinds = {(doc["apiVersion"], doc["kind"]) for overlay in OVERLAYS for doc in build(overlay)}
    custom = {kind for api, kind in kinds if api not in CORE_GROUPS} - {"FlinkDeployment"}
    assert custom <= set(operator_crds.GROUPS)
    # Every operator kind the platform uses is among them, in the prod overlay at least.
    assert set(operator_crds.GROUPS) - custom == {"KafkaUser", "ServiceMonitor"}


def test_the_manual_migrations_job_is_a_valid_job() -> None:
    (job,) = load_documents(K8S_DIR / "platform" / "postgres" / "warehouse-migrate-job.yaml")
    assert kubernetes_errors(job) == []


def _with(manifest: Manifest, path: tuple[str | int, ...], value: Any) -> Manifest:
    changed = copy.deepcopy(manifest)
    *parents, last = path
    node: Any = changed
    for key in parents:
        node = node[key]
    node[last] = value
    return changed


# (kind, name, path, value, where the error must be): an unknown field and a wrong type or
# value for each operator kind.
BROKEN = [
    ("Kafka", "streamflow", ("spec", "kafka", "listener"), [], "$.spec.kafka"),
    ("Kafka", "streamflow", ("spec", "kafka", "listeners", 0, "port"), "9092",
     "$.spec.kafka.listeners[0].port"),
    ("Kafka", "streamflow", ("spec", "kafkaExporter", "groupRegex"), [".*"],
     "$.spec.kafkaExporter.groupRegex"),
    ("KafkaNodePool", "brokers", ("spec", "roles"), ["broker", "zookeeper"], "$.spec.roles[1]"),
    ("KafkaNodePool", "brokers", ("spec", "replica"), 3, "$.spec"),
    ("KafkaTopic", "transactions.raw", ("spec", "partitions"), "3", "$.spec.partitions"),
    ("KafkaTopic", "transactions.raw", ("spec", "retention"), 7, "$.spec"),
    ("KafkaTopic", "transactions.raw", ("metadata", "name"), "Transactions_Raw", "$.metadata.name"),
    ("Cluster", "warehouse", ("spec", "instances"), "3", "$.spec.instances"),
    ("Cluster", "warehouse", ("spec", "managed", "roles", 0, "passwordSecrets"), {},
     "$.spec.managed.roles[0]"),
    ("ScheduledBackup", "warehouse-nightly", ("spec", "method"), "barman",
     "$.spec.method"),
    ("ScheduledBackup", "warehouse-nightly", ("spec", "clusterName"), "warehouse", "$.spec"),
    ("ObjectStore", "warehouse-backups", ("spec", "configuration", "destination"), "s3://x/",
     "$.spec.configuration"),
    ("ObjectStore", "warehouse-backups", ("spec", "retentionPolicy"), "30 days",
     "$.spec.retentionPolicy"),
    ("Database", "warehouse-airflow", ("spec", "ensure"), "created", "$.spec.ensure"),
    ("PodMonitor", "fraud-detection-flink", ("spec", "podMetricsEndpoints", 0, "interval"), 15,
     "$.spec.podMetricsEndpoints[0].interval"),
    ("PodMonitor", "streamflow-console", ("spec", "podMetricsEndpoints", 0, "bearerToken"), "x",
     "$.spec.podMetricsEndpoints[0]"),
    ("PrometheusRule", "streamflow", ("spec", "groups"), {}, "$.spec.groups"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "name", "path", "value", "error_at"),
    BROKEN,
    ids=[f"{case[0]}-{'.'.join(map(str, case[2]))}" for case in BROKEN],
)
def test_the_operator_schemas_reject_a_broken_object(
    kind: str, name: str, path: tuple[str | int, ...], value: Any, error_at: str
) -> None:
    (manifest,) = [doc for doc in objects("prod", kind) if doc["metadata"]["name"] == name]
    validator = operator_crds.validator(manifest)
    broken = _with(manifest, path, value)
    new_errors = set(crd_errors(validator, broken)) - set(crd_errors(validator, manifest))
    assert new_errors, f"{kind} {path}={value!r} was accepted"
    assert all(error.startswith(f"{error_at}") for error in new_errors), new_errors


def test_a_custom_resource_of_an_unknown_operator_kind_is_refused() -> None:
    widget = {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaWidget", "metadata": {"name": "x"}}
    with pytest.raises(LookupError):
        operator_crds.validator(widget)
    wrong_group = {"apiVersion": "example.com/v1", "kind": "Kafka", "metadata": {"name": "x"}}
    with pytest.raises(LookupError):
        operator_crds.validator(wrong_group)


def test_a_failed_go_module_download_is_an_error_that_says_why(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.k8s import schemas

    def unreachable(*_: Any, **__: Any) -> None:
        raise OSError("Network is unreachable")

    monkeypatch.setattr(schemas, "CACHE_DIR", tmp_path)
    monkeypatch.setattr("urllib.request.urlopen", unreachable)
    with pytest.raises(schemas.SchemaUnavailableError, match=r"Go module proxy.*unreachable"):
        operator_crds.crd("PodMonitor")
    assert list(tmp_path.iterdir()) == []
