"""The objects ``kubectl kustomize k8s/`` produces, rendered in Python for the tests.

Only the kustomization features that ``k8s/kustomization.yaml`` and what it includes
(``k8s/base/``, ``k8s/config/``) use are implemented; any other field is an error here rather
than silently ignored. ``test_manifests.py`` checks that this rendering equals kustomize's own.
The overlays (``k8s/overlays/``: components, patches) are rendered by kubectl itself
(overlays.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

K8S_DIR = Path(__file__).resolve().parents[2] / "k8s"
BASE_DIR = K8S_DIR / "base"
CONFIG_DIR = K8S_DIR / "config"
KUSTOMIZATION = "kustomization.yaml"
SUPPORTED_FIELDS = {
    "apiVersion",
    "kind",
    "namespace",
    "labels",
    "resources",
    "configMapGenerator",
    "generatorOptions",
}
CLUSTER_SCOPED_KINDS = {"Namespace"}

Manifest = dict[str, Any]


def kustomization(root: Path = K8S_DIR) -> Manifest:
    document: Manifest = yaml.safe_load((root / KUSTOMIZATION).read_text("utf-8"))
    return document


def load_documents(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text("utf-8")) if doc is not None]


def generator_sources(root: Path = K8S_DIR) -> dict[str, dict[str, Path]]:
    """ConfigMap name -> {data key: file} of the configMapGenerator entries."""
    sources: dict[str, dict[str, Path]] = {}
    for generator in kustomization(root).get("configMapGenerator", []):
        unsupported = set(generator) - {"name", "files"}
        if unsupported:
            raise NotImplementedError(f"configMapGenerator fields {sorted(unsupported)}")
        files = sources[generator["name"]] = {}
        for entry in generator["files"]:
            key, _, path = entry.rpartition("=")
            files[key or Path(path).name] = root / path
    return sources


def render(root: Path = K8S_DIR) -> list[Manifest]:
    spec = kustomization(root)
    unsupported = set(spec) - SUPPORTED_FIELDS
    if unsupported:
        raise NotImplementedError(f"kustomization fields not rendered here: {sorted(unsupported)}")
    if spec.get("configMapGenerator") and not spec.get("generatorOptions", {}).get(
        "disableNameSuffixHash"
    ):
        raise NotImplementedError("generated names with a hash suffix are not rendered here")
    objects = []
    for resource in spec.get("resources", []):
        path = (root / resource).resolve()
        objects.extend(render(path) if path.is_dir() else load_documents(path))
    for name, files in generator_sources(root).items():
        data = {key: path.read_text("utf-8") for key, path in files.items()}
        objects.append(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
        )
    if any(set(entry) != {"pairs"} for entry in spec.get("labels", [])):
        raise NotImplementedError("labels on selectors or templates are not rendered here")
    labels = {
        key: value for entry in spec.get("labels", []) for key, value in entry["pairs"].items()
    }
    for manifest in objects:
        metadata = manifest.setdefault("metadata", {})
        if "namespace" in spec and manifest["kind"] not in CLUSTER_SCOPED_KINDS:
            metadata["namespace"] = spec["namespace"]
        if labels:
            metadata["labels"] = {**metadata.get("labels", {}), **labels}
    return objects
