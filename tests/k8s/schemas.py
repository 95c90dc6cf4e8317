"""The schemas the manifests are validated against, and validators that behave like the API server.

* The FlinkDeployment CRD of the Flink Kubernetes Operator comes from the operator's API jar on
  Maven Central (``META-INF/fabric8/``), downloaded once into ``.cache/k8s-schemas/`` and checked
  against a pinned SHA-256. A failed download is an error with the reason, never a skip: CI
  reaches Maven Central.
* Core Kubernetes kinds are checked with ``kubernetes-validate``'s bundled schemas in strict
  mode (unknown fields are errors).

The API server does not validate a custom resource with plain JSON Schema: it applies the CRD's
structural schema, in which an object field not declared is unknown (kubectl's default strict
field validation rejects it) unless ``x-kubernetes-preserve-unknown-fields`` says otherwise,
``x-kubernetes-int-or-string`` admits both types and ``apiVersion``/``kind``/``metadata`` are
implicit at the root. :func:`structural_schema` rewrites the CRD schema into plain JSON Schema
with those rules, so ``jsonschema`` rejects what the API server would.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = ROOT / ".cache" / "k8s-schemas"

OPERATOR_VERSION = "1.10.0"
OPERATOR_API_JAR = f"flink-kubernetes-operator-api-{OPERATOR_VERSION}.jar"
OPERATOR_API_URL = (
    "https://repo1.maven.org/maven2/org/apache/flink/flink-kubernetes-operator-api/"
    f"{OPERATOR_VERSION}/{OPERATOR_API_JAR}"
)
OPERATOR_API_SHA256 = "b1f44814e17514fa8395c61b329a3ee9087123a5bda5b21fe1a495d5182c30b6"
FLINKDEPLOYMENT_CRD = "META-INF/fabric8/flinkdeployments.flink.apache.org-v1.yml"

# Names that also name Services (RFC 1035 labels), and names of any other object.
DNS_LABEL = "^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

# A Kubernetes release that kubernetes-validate bundles and that current clusters run.
KUBERNETES_VERSION = "1.33"

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SchemaUnavailableError(RuntimeError):
    """The operator's CRD could not be obtained; the message says why and what to do."""


def fetch(url: str, sha256: str, target: Path, source: str) -> Path:
    """``url`` downloaded once to ``target`` and checked against its pinned SHA-256.

    ``source`` names the registry in the error, which says why and what to do.
    """
    if target.exists() and _sha256(target) == sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.part")
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            partial.write_bytes(response.read())
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise SchemaUnavailableError(
            f"cannot download {url} from {source}: {error}. The manifest tests need it; with "
            f"no network, put the file at {target}."
        ) from error
    digest = _sha256(partial)
    if digest != sha256:
        partial.unlink()
        raise SchemaUnavailableError(f"{url} has SHA-256 {digest}, expected {sha256}")
    partial.replace(target)
    return target


def operator_api_jar() -> Path:
    """The Flink operator API jar, downloaded into the cache the first time."""
    return fetch(
        OPERATOR_API_URL, OPERATOR_API_SHA256, CACHE_DIR / OPERATOR_API_JAR, "Maven Central"
    )


def flinkdeployment_crd() -> dict[str, Any]:
    """The FlinkDeployment CustomResourceDefinition (cached as JSON next to the jar)."""
    cached = CACHE_DIR / f"flinkdeployments-{OPERATOR_VERSION}-{OPERATOR_API_SHA256[:12]}.json"
    if cached.exists():
        crd: dict[str, Any] = json.loads(cached.read_text("utf-8"))
        return crd
    with zipfile.ZipFile(operator_api_jar()) as jar:
        crd = yaml.load(jar.read(FLINKDEPLOYMENT_CRD), Loader=_YAML_LOADER)
    cached.write_text(json.dumps(crd), "utf-8")
    return crd


def served_schema(crd: dict[str, Any], version: str) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of a served version of the CRD."""
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version and entry["served"]:
            schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
            return schema
    raise LookupError(f"{crd['metadata']['name']} serves no version {version}")


def structural_schema(
    crd: dict[str, Any], version: str, name_pattern: str = DNS_LABEL
) -> dict[str, Any]:
    """JSON Schema that accepts what the API server accepts for this CRD version.

    ``name_pattern``: what the kind's ``metadata.name`` must match (a DNS label where the name
    also names Services or pods, as a FlinkDeployment's; a DNS subdomain elsewhere).
    """
    schema = _structural(copy.deepcopy(served_schema(crd, version)))
    properties = schema.setdefault("properties", {})
    properties["apiVersion"] = {"const": f"{crd['spec']['group']}/{version}"}
    properties["kind"] = {"const": crd["spec"]["names"]["kind"]}
    metadata = copy.deepcopy(_OBJECT_META)
    metadata["properties"]["name"]["pattern"] = name_pattern
    metadata["properties"]["name"]["maxLength"] = 63 if name_pattern == DNS_LABEL else 253
    properties["metadata"] = metadata
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    schema["additionalProperties"] = False
    return schema


def crd_validator(
    crd: dict[str, Any], version: str, name_pattern: str = DNS_LABEL
) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(structural_schema(crd, version, name_pattern))


def crd_errors(validator: jsonschema.Draft202012Validator, document: Any) -> list[str]:
    """Every violation as ``path: message``, sorted: empty when the document is valid."""
    return sorted(
        f"{error.json_path}: {error.message}" for error in validator.iter_errors(document)
    )


def kubernetes_errors(document: dict[str, Any]) -> list[str]:
    """Violations of the core kind's schema (strict); a kind without a schema is one too."""
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = "$." + ".".join(str(part) for part in error.path)
        return [f"{path}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [error.message]
    return []


# Metadata of a custom resource as the API server checks it; structural_schema sets the name's
# pattern per kind.
_OBJECT_META: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}

_EMBEDDED_RESOURCE_FIELDS: dict[str, Any] = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {"type": "object"},
}


def _structural(node: dict[str, Any]) -> dict[str, Any]:
    for child in _children(node):
        _structural(child)
    if node.get("x-kubernetes-int-or-string") and "type" not in node and "anyOf" not in node:
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.pop("nullable", False) and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    if node.get("x-kubernetes-embedded-resource"):
        node.setdefault("properties", {}).update(copy.deepcopy(_EMBEDDED_RESOURCE_FIELDS))
    open_object = node.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in node
    if node.get("type") == "object" and "properties" in node and not open_object:
        node["additionalProperties"] = False
    return node


def _children(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from node.get("properties", {}).values()
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            yield node[key]
    for key in ("allOf", "anyOf", "oneOf"):
        yield from node.get(key, [])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
