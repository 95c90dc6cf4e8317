"""The console's manifests (k8s/base/console.yaml): hardened pods, probes, resources, the
database role's secret by reference, and a network policy that opens only its port."""

from __future__ import annotations

from typing import Any

import pytest

from tests.k8s.images import dockerfile_copies, dockerfile_instructions
from tests.k8s.render import K8S_DIR, Manifest, load_documents, render

CONSOLE_DOCKERFILE = K8S_DIR / "images" / "console.Dockerfile"
PORT = 58090


@pytest.fixture(scope="module")
def objects() -> list[Manifest]:
    return [doc for doc in render() if "console" in doc["metadata"]["name"]]


def _deployments(objects: list[Manifest]) -> dict[str, Manifest]:
    return {d["metadata"]["name"]: d for d in objects if d["kind"] == "Deployment"}


def _container(deployment: Manifest) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_the_console_and_its_relay_are_deployed(objects: list[Manifest]) -> None:
    deployments = _deployments(objects)
    assert set(deployments) == {"streamflow-console", "streamflow-console-relay"}
    assert _container(deployments["streamflow-console"])["args"][0] == "serve"
    assert _container(deployments["streamflow-console-relay"])["args"][0] == "relay"
    (service,) = [o for o in objects if o["kind"] == "Service"]
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/name": "streamflow-console",
        "app.kubernetes.io/component": "web",
    }


def test_pods_are_non_root_read_only_and_sized(objects: list[Manifest]) -> None:
    for name, deployment in _deployments(objects).items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        container = _container(deployment)
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["capabilities"]["drop"] == ["ALL"], name
        assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind]), name
        assert "livenessProbe" in container, name


def test_the_web_pods_are_probed_on_their_health_endpoint(objects: list[Manifest]) -> None:
    container = _container(_deployments(objects)["streamflow-console"])
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    # Not the database's health: an outage must not restart every pod.
    assert container["livenessProbe"]["tcpSocket"] == {"port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": PORT, "protocol": "TCP"}]


def test_the_database_dsn_is_a_secret_reference(objects: list[Manifest]) -> None:
    (example,) = load_documents(K8S_DIR / "console-secret.example.yaml")
    assert not [o for o in objects if o["kind"] == "Secret"]
    for name, deployment in _deployments(objects).items():
        env = {e["name"]: e for e in _container(deployment)["env"]}
        dsn = env["STREAMFLOW_CONSOLE_PG_DSN"]
        assert "value" not in dsn, name
        reference = dsn["valueFrom"]["secretKeyRef"]
        assert (reference["name"], reference["key"]) == (example["metadata"]["name"], "dsn")
        assert all("password" not in str(e.get("value", "")).lower() for e in env.values())


def test_only_the_web_port_is_open(objects: list[Manifest]) -> None:
    policies = {o["metadata"]["name"]: o for o in objects if o["kind"] == "NetworkPolicy"}
    web = policies["streamflow-console-web"]["spec"]
    assert [port["port"] for rule in web["ingress"] for port in rule["ports"]] == [PORT]
    assert policies["streamflow-console-relay"]["spec"]["ingress"] == []


def test_the_image_runs_the_console_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions(CONSOLE_DOCKERFILE)
    assert ["USER", "10001:10001"] in instructions
    copied = {source.rstrip("/") for source, _ in dockerfile_copies(CONSOLE_DOCKERFILE)}
    assert {"pipelines", "transforms", "ml", "console", "sql"} <= copied
