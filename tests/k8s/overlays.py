"""The overlays (k8s/overlays/dev, k8s/overlays/prod) as kubectl's kustomize builds them, and
the other files of the platform the tests read (Airflow's Helm values, the example Secrets).

The overlays use components and patches, which render.py does not reimplement: kubectl is part
of the machine image, and a missing kubectl is an error that says so, never a skip.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.k8s.render import K8S_DIR, Manifest, load_documents

OVERLAYS = ("dev", "prod")
PLATFORM_DIR = K8S_DIR / "platform"
AIRFLOW_DIR = PLATFORM_DIR / "airflow"
MONITORING_DIR = K8S_DIR / "monitoring"


@functools.cache
def build(overlay: str) -> tuple[Manifest, ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise RuntimeError("kubectl (with its built-in kustomize) is needed to build the overlays")
    built = subprocess.run(
        [kubectl, "kustomize", str(K8S_DIR / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if built.returncode != 0:
        raise RuntimeError(f"kubectl kustomize k8s/overlays/{overlay}: {built.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(built.stdout) if doc)


def objects(overlay: str, kind: str) -> list[Manifest]:
    return [doc for doc in build(overlay) if doc["kind"] == kind]


def one(overlay: str, kind: str, name: str) -> Manifest:
    (found,) = [doc for doc in objects(overlay, kind) if doc["metadata"]["name"] == name]
    return found


def example_secrets() -> dict[str, Manifest]:
    """Every example Secret of k8s/ (``*.example.yaml``), by name."""
    return {
        doc["metadata"]["name"]: doc
        for path in K8S_DIR.rglob("*.example.yaml")
        for doc in load_documents(path)
        if doc["kind"] == "Secret"
    }


def airflow_values(environment: str | None = None) -> dict[str, Any]:
    """values.yaml, or values-<environment>.yaml alone."""
    name = "values.yaml" if environment is None else f"values-{environment}.yaml"
    values: dict[str, Any] = yaml.safe_load((AIRFLOW_DIR / name).read_text("utf-8"))
    return values


def merged_airflow_values(environment: str) -> dict[str, Any]:
    """values.yaml with values-<environment>.yaml on top, as Helm merges them."""
    return _merge(airflow_values(), airflow_values(environment))


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = value
    return merged


def pod_specs(manifest: Manifest) -> list[dict[str, Any]]:
    """The pod specs a core workload or a FlinkDeployment runs."""
    spec = manifest.get("spec", {})
    if manifest["kind"] in {"Deployment", "StatefulSet", "Job"}:
        return [spec["template"]["spec"]]
    if manifest["kind"] == "FlinkDeployment":
        return [spec[role]["podTemplate"]["spec"] for role in ("jobManager", "taskManager")]
    return []


def path_of(root: Path) -> str:
    return str(root.relative_to(K8S_DIR.parent))
