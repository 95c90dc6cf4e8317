"""The platform around the job (k8s/platform/, k8s/monitoring/, k8s/overlays/), as a reviewer
would check it: the topics the pipeline names and the local broker's settings, replication
that the node pools can hold, the warehouse's roles and backups, Secrets only by reference,
pinned images, sized containers, network policies that open what the components use, metrics
endpoints that exist, and the differences between dev and prod."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.kafka import KafkaOptions
from tests.k8s.images import pipeline_args
from tests.k8s.overlays import (
    MONITORING_DIR,
    OVERLAYS,
    airflow_values,
    build,
    example_secrets,
    objects,
    one,
    pod_specs,
)
from tests.k8s.render import K8S_DIR, Manifest
from tests.k8s.schemas import ROOT

KAFKA_SCRIPT = ROOT / "scripts" / "kafka.sh"
SECRET_LIKE = re.compile(r"(KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL|DSN|CONN)", re.IGNORECASE)
NAMESPACE = "streamflow"
BOOTSTRAP = f"streamflow-kafka-bootstrap.{NAMESPACE}.svc:9092"
DAY_MS = 86_400_000


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of a nested document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def _script_topics() -> dict[str, tuple[int, int, str]]:
    """scripts/kafka.sh's TOPICS: name -> (partitions, retention.ms, cleanup.policy)."""
    text = KAFKA_SCRIPT.read_text("utf-8")
    block = re.search(r"^TOPICS=\((.*?)^\)", text, re.S | re.M)
    assert block, "no TOPICS=( ... ) in scripts/kafka.sh"
    topics = {}
    spec = re.compile(r"(\S+) (\d+) (-1|\$\(\((\d+) \* DAY_MS\)\))(?: (\S+))?")
    for line in block[1].splitlines():
        if not line.strip():
            continue
        match = spec.fullmatch(line.strip().strip('"'))
        assert match, line
        retention = int(match[4]) * DAY_MS if match[4] else -1
        topics[match[1]] = (int(match[2]), retention, match[5] or "delete")
    return topics


def _default_topics() -> set[str]:
    options = PipelineOptions([]).view_as(KafkaOptions).get_all_options()
    return {value for name, value in options.items() if name.endswith("_topic") and value}


# -- Kafka -----------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_topic_the_pipeline_names_by_default_is_a_kafka_topic(overlay: str) -> None:
    topics = {topic["metadata"]["name"] for topic in objects(overlay, "KafkaTopic")}
    defaults = _default_topics()
    assert {"transactions.raw", "metrics.realtime", "reference.rules"} <= defaults
    assert defaults <= topics
    args = dict(
        arg.split("=", 1) for arg in pipeline_args() if arg.endswith("_topic") or "_topic=" in arg
    )
    assert set(args.values()) <= topics


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topics_have_the_local_brokers_partitions_retention_and_cleanup(overlay: str) -> None:
    topics = {topic["metadata"]["name"]: topic for topic in objects(overlay, "KafkaTopic")}
    script = _script_topics()
    assert set(script) <= set(topics)
    for name, (partitions, retention, cleanup) in script.items():
        spec = topics[name]["spec"]
        assert spec["partitions"] == partitions, name
        assert spec["config"] == {"retention.ms": retention, "cleanup.policy": cleanup}, name
        assert topics[name]["metadata"]["labels"]["strimzi.io/cluster"] == "streamflow"
    for name in ("reference.rules", "reference.blacklist"):
        assert topics[name]["spec"]["config"]["cleanup.policy"] == "compact"
    metrics = topics["metrics.realtime"]["spec"]
    assert metrics["config"] == {"retention.ms": 7 * DAY_MS, "cleanup.policy": "compact,delete"}


def _brokers(overlay: str) -> int:
    return sum(
        pool["spec"]["replicas"]
        for pool in objects(overlay, "KafkaNodePool")
        if "broker" in pool["spec"]["roles"]
    )


@pytest.mark.parametrize(("overlay", "replicas"), [("dev", 1), ("prod", 3)])
def test_replication_fits_the_brokers_of_each_overlay(overlay: str, replicas: int) -> None:
    config = one(overlay, "Kafka", "streamflow")["spec"]["kafka"]["config"]
    assert _brokers(overlay) == replicas
    assert config["default.replication.factor"] == replicas
    assert config["offsets.topic.replication.factor"] == replicas
    assert config["min.insync.replicas"] == max(1, replicas - 1)
    assert config["auto.create.topics.enable"] is False
    for topic in objects(overlay, "KafkaTopic"):
        assert topic["spec"]["replicas"] == replicas, topic["metadata"]["name"]


def test_kraft_roles_dev_one_dual_node_prod_three_controllers_three_brokers() -> None:
    (dual,) = objects("dev", "KafkaNodePool")
    assert (dual["spec"]["replicas"], sorted(dual["spec"]["roles"])) == (
        1,
        ["broker", "controller"],
    )
    pools = {pool["spec"]["roles"][0]: pool["spec"] for pool in objects("prod", "KafkaNodePool")}
    assert {role: spec["replicas"] for role, spec in pools.items()} == {
        "controller": 3,
        "broker": 3,
    }
    assert all(len(spec["roles"]) == 1 for spec in pools.values())
    for overlay in OVERLAYS:
        for pool in objects(overlay, "KafkaNodePool"):
            assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "streamflow"
            assert pool["spec"]["storage"]["type"] == "persistent-claim"
            assert pool["spec"]["storage"]["deleteClaim"] is False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_exports_lag_and_jmx_metrics(overlay: str) -> None:
    spec = one(overlay, "Kafka", "streamflow")["spec"]
    assert spec["kafkaExporter"]["groupRegex"] == ".*"
    reference = spec["kafka"]["metricsConfig"]["valueFrom"]["configMapKeyRef"]
    rules = yaml.safe_load(one(overlay, "ConfigMap", reference["name"])["data"][reference["key"]])
    assert rules["rules"]
    assert rules["lowercaseOutputName"] is True


def test_every_client_uses_the_clusters_bootstrap_service() -> None:
    spec = one("prod", "Kafka", "streamflow")
    (listener,) = spec["spec"]["kafka"]["listeners"]
    assert (listener["port"], listener["type"], listener["tls"]) == (9092, "internal", False)
    assert f"{spec['metadata']['name']}-kafka-bootstrap.{NAMESPACE}.svc:9092" == BOOTSTRAP
    args = dict(arg.split("=", 1) for arg in pipeline_args() if "=" in arg)
    assert args["--kafka_bootstrap_servers"] == BOOTSTRAP
    relay = one("prod", "Deployment", "streamflow-console-relay")
    env = {e["name"]: e.get("value") for e in _containers(pod_specs(relay)[0])[0]["env"]}
    assert env["STREAMFLOW_KAFKA_BOOTSTRAP"] == BOOTSTRAP


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.mark.parametrize(("overlay", "instances"), [("dev", 1), ("prod", 3)])
def test_the_warehouse_cluster_and_its_roles(overlay: str, instances: int) -> None:
    spec = one(overlay, "Cluster", "warehouse")["spec"]
    assert spec["instances"] == instances
    assert spec["enablePDB"] is (instances > 1)
    assert spec["bootstrap"]["initdb"]["database"] == "streamflow"
    examples = example_secrets()
    owner = spec["bootstrap"]["initdb"]["owner"]
    roles = {role["name"]: role for role in spec["managed"]["roles"]}
    assert {owner, "streamflow_console", "airflow"} <= set(roles)
    for name, role in roles.items():
        secret = examples[role["passwordSecret"]["name"]]
        assert secret["type"] == "kubernetes.io/basic-auth"
        assert secret["stringData"]["username"] == name
    assert spec["imageName"].split(":")[1][0].isdigit()
    database = one(overlay, "Database", "warehouse-airflow")["spec"]
    assert (database["cluster"]["name"], database["owner"]) == ("warehouse", "airflow")


def test_prod_archives_wal_and_backs_up_nightly_dev_does_not() -> None:
    store = one("prod", "ObjectStore", "warehouse-backups")["spec"]
    assert store["configuration"]["destinationPath"].startswith("s3://")
    examples = example_secrets()
    for reference in store["configuration"]["s3Credentials"].values():
        assert reference["key"] in examples[reference["name"]]["stringData"]
    (plugin,) = one("prod", "Cluster", "warehouse")["spec"]["plugins"]
    assert plugin["isWALArchiver"] is True
    assert plugin["parameters"]["barmanObjectName"] == "warehouse-backups"
    backup = one("prod", "ScheduledBackup", "warehouse-nightly")["spec"]
    assert backup["cluster"]["name"] == "warehouse"
    assert (backup["method"], backup["pluginConfiguration"]["name"]) == ("plugin", plugin["name"])
    assert not objects("dev", "ObjectStore")
    assert not objects("dev", "ScheduledBackup")
    assert "plugins" not in one("dev", "Cluster", "warehouse")["spec"]


# -- secrets, images, resources, security ----------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_value_is_in_the_overlays(overlay: str) -> None:
    assert objects(overlay, "Secret") == []
    for doc in build(overlay):
        for key, value in _walk(doc):
            if key == "env":
                for var in value:
                    if SECRET_LIKE.search(var["name"]):
                        assert "value" not in var, (doc["metadata"]["name"], var["name"])
            assert not (isinstance(value, str) and re.search(r"://[^/\s]*:[^@/\s]+@", value)), key
    for secret in example_secrets().values():
        values = {k: v for k, v in secret["stringData"].items() if k != "username"}
        assert all(re.fullmatch(r"<[^>]+>", value) for value in values.values()), secret


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_image_is_pinned(overlay: str) -> None:
    for doc in build(overlay):
        for key, value in _walk(doc):
            if key in {"image", "imageName"} and isinstance(value, str):
                name, _, tag = value.rpartition(":")
                assert name, value
                assert tag not in {"", "latest"}, value
                assert "/" not in tag, value


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_resources(overlay: str) -> None:
    for doc in build(overlay):
        if doc["kind"] in {"Deployment", "StatefulSet", "Job"}:
            for container in _containers(pod_specs(doc)[0]):
                for kind in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(container["resources"][kind]), doc
    sized = [
        one(overlay, "Cluster", "warehouse")["spec"],
        *(pool["spec"] for pool in objects(overlay, "KafkaNodePool")),
        one(overlay, "Kafka", "streamflow")["spec"]["kafkaExporter"],
        one(overlay, "Kafka", "streamflow")["spec"]["entityOperator"]["topicOperator"],
    ]
    for spec in sized:
        assert {"cpu", "memory"} <= set(spec["resources"]["limits"]), spec


def test_kafka_pods_meet_the_restricted_pod_security_standard() -> None:
    spec = one("prod", "Kafka", "streamflow")["spec"]
    templates = [
        (spec["kafka"]["template"]["pod"], spec["kafka"]["template"]["kafkaContainer"]),
        (spec["kafkaExporter"]["template"]["pod"], spec["kafkaExporter"]["template"]["container"]),
        (
            spec["entityOperator"]["template"]["pod"],
            spec["entityOperator"]["template"]["topicOperatorContainer"],
        ),
    ]
    for pod, container in templates:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert not any("template" in pool["spec"] for pool in objects("prod", "KafkaNodePool"))


# -- network policies ------------------------------------------------------------------------


def _policies(overlay: str) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p["spec"] for p in objects(overlay, "NetworkPolicy")}


def _allows(rules: list[dict[str, Any]], peer: dict[str, str], port: int, side: str) -> bool:
    """Whether a rule admits pods of this namespace labelled ``peer`` on ``port``."""
    for rule in rules:
        ports = [p["port"] for p in rule.get("ports", [])]
        peers = [p for p in rule.get(side, []) if "namespaceSelector" not in p]
        if ports and port not in ports:
            continue
        for selector in peers:
            labels = selector.get("podSelector", {}).get("matchLabels", {})
            if labels.items() <= peer.items():
                return True
    return False


FLINK = {"app": "fraud-detection", "component": "taskmanager"}
CONSOLE_RELAY = {
    "app.kubernetes.io/name": "streamflow-console",
    "app.kubernetes.io/component": "relay",
}
AIRFLOW = {
    "tier": "airflow",
    "component": "scheduler",
    "release": "airflow",
    **airflow_values()["scheduler"]["labels"],
}
BROKER = {"strimzi.io/cluster": "streamflow", "strimzi.io/broker-role": "true"}
WAREHOUSE = {"cnpg.io/cluster": "warehouse", "cnpg.io/podRole": "instance"}


def _selected(spec: dict[str, Any], pod: dict[str, str]) -> bool:
    return spec["podSelector"].get("matchLabels", {}).items() <= pod.items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_default_deny_with_dns_and_the_paths_the_components_use(overlay: str) -> None:
    policies = _policies(overlay)
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = policies["allow-dns"]["egress"][0]["ports"]
    assert {(p["protocol"], p["port"]) for p in dns} == {("UDP", 53), ("TCP", 53)}

    def egress(pod: dict[str, str], peer: dict[str, str], port: int) -> bool:
        return any(
            _allows(spec.get("egress", []), peer, port, "to")
            for spec in policies.values()
            if _selected(spec, pod) and "Egress" in spec["policyTypes"]
        )

    def ingress(pod: dict[str, str], peer: dict[str, str], port: int) -> bool:
        return any(
            _allows(spec.get("ingress", []), peer, port, "from")
            for spec in policies.values()
            if _selected(spec, pod) and "Ingress" in spec["policyTypes"]
        )

    for client in (FLINK, CONSOLE_RELAY, AIRFLOW):
        assert egress(client, BROKER, 9092), client
        assert egress(client, WAREHOUSE, 5432), client
        assert ingress(WAREHOUSE, client, 5432), client
    assert egress(AIRFLOW, {"app": "fraud-detection", "component": "jobmanager"}, 8081)
    assert ingress({"app": "fraud-detection", "component": "jobmanager"}, AIRFLOW, 8081)
    assert egress(WAREHOUSE, WAREHOUSE, 5432)
    assert ingress(WAREHOUSE, WAREHOUSE, 5432)
    # Kafka's ingress on the listener is Strimzi's own policy, from the listener's peers.
    (listener,) = one(overlay, "Kafka", "streamflow")["spec"]["kafka"]["listeners"]
    peers = [peer["podSelector"]["matchLabels"] for peer in listener["networkPolicyPeers"]]
    for client in (FLINK, CONSOLE_RELAY, AIRFLOW):
        assert any(labels.items() <= client.items() for labels in peers), client


# -- monitoring ------------------------------------------------------------------------------


def _prometheus_may_scrape(overlay: str, pod: dict[str, str], port: int) -> bool:
    return any(
        rule.get("ports") == [{"protocol": "TCP", "port": port}]
        and {
            "namespaceSelector": {},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
        in rule["from"]
        for spec in _policies(overlay).values()
        if _selected(spec, pod)
        for rule in spec.get("ingress", [])
    )


def _named_ports(containers: list[dict[str, Any]]) -> dict[str, int]:
    return {
        p["name"]: p["containerPort"] for c in containers for p in c.get("ports", []) if "name" in p
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pod_monitors_scrape_ports_the_pods_have(overlay: str) -> None:
    monitors = {m["metadata"]["name"]: m["spec"] for m in objects(overlay, "PodMonitor")}
    flink = one(overlay, "FlinkDeployment", "fraud-detection")
    flink_monitor = monitors["fraud-detection-flink"]
    assert flink_monitor["selector"]["matchLabels"] == {"app": flink["metadata"]["name"]}
    port = flink_monitor["podMetricsEndpoints"][0]["port"]
    for pod in pod_specs(flink):
        assert _named_ports(pod["containers"])[port] == int(
            flink["spec"]["flinkConfiguration"]["metrics.reporter.prom.port"]
        )
    assert _prometheus_may_scrape(overlay, FLINK, 9249)
    console = one(overlay, "Deployment", "streamflow-console")
    console_monitor = monitors["streamflow-console"]
    assert (
        console_monitor["selector"]["matchLabels"].items()
        <= console["spec"]["template"]["metadata"]["labels"].items()
    )
    endpoint = console_monitor["podMetricsEndpoints"][0]
    console_port = _named_ports(pod_specs(console)[0]["containers"])[endpoint["port"]]
    credentials = endpoint["authorization"]["credentials"]
    assert credentials["key"] in example_secrets()[credentials["name"]]["stringData"]
    # The console compares the token with the same Secret's (console/settings.py).
    env = {e["name"]: e for e in pod_specs(console)[0]["containers"][0]["env"]}
    reference = env["STREAMFLOW_CONSOLE_METRICS_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert (reference["name"], reference["key"]) == (credentials["name"], credentials["key"])
    web = {"app.kubernetes.io/name": "streamflow-console", "app.kubernetes.io/component": "web"}
    assert _prometheus_may_scrape(overlay, web, console_port)
    assert monitors["streamflow-kafka"]["podMetricsEndpoints"][0]["port"] == "tcp-prometheus"
    assert _prometheus_may_scrape(overlay, {"strimzi.io/cluster": "streamflow"}, 9404)
    assert monitors["warehouse"]["podMetricsEndpoints"][0]["port"] == "metrics"
    assert _prometheus_may_scrape(overlay, WAREHOUSE, 9187)
    # No monitor for the Beam workers: their metrics are the TaskManagers' (podmonitors.yaml).
    assert set(monitors) == {
        "fraud-detection-flink",
        "streamflow-console",
        "streamflow-kafka",
        "warehouse",
    }


def test_the_monitoring_kustomization_packs_every_dashboard() -> None:
    spec = yaml.safe_load((MONITORING_DIR / "kustomization.yaml").read_text("utf-8"))
    assert {"prometheus-rules.yaml", "podmonitors.yaml"} <= set(spec["resources"])
    packed = {file for generator in spec["configMapGenerator"] for file in generator["files"]}
    on_disk = {f"dashboards/{path.name}" for path in (MONITORING_DIR / "dashboards").glob("*.json")}
    assert packed == on_disk
    assert spec["generatorOptions"]["labels"] == {"grafana_dashboard": "1"}
    for overlay in OVERLAYS:
        dashboards = [
            cm
            for cm in objects(overlay, "ConfigMap")
            if cm["metadata"]["name"].startswith("streamflow-dashboard-")
        ]
        assert len(dashboards) == len(on_disk)
        assert all(cm["metadata"]["labels"]["grafana_dashboard"] == "1" for cm in dashboards)
        assert one(overlay, "PrometheusRule", "streamflow")


# -- disruption budgets and the overlays' differences ----------------------------------------


def test_prod_budgets_the_console_and_airflow_api_server_dev_has_none() -> None:
    assert objects("dev", "PodDisruptionBudget") == []
    budgets = {b["metadata"]["name"]: b["spec"] for b in objects("prod", "PodDisruptionBudget")}
    console = one("prod", "Deployment", "streamflow-console")
    assert (
        budgets["streamflow-console"]["selector"]["matchLabels"]
        == console["spec"]["selector"]["matchLabels"]
    )
    assert console["spec"]["replicas"] > budgets["streamflow-console"]["minAvailable"]
    from tests.k8s.overlays import merged_airflow_values

    assert (
        merged_airflow_values("prod")["apiServer"]["replicas"]
        > budgets["airflow-api-server"]["minAvailable"]
    )
    assert budgets["airflow-api-server"]["selector"]["matchLabels"]["component"] == "api-server"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_in_the_streamflow_namespace_once(overlay: str) -> None:
    docs = build(overlay)
    keys = [(doc["kind"], doc["metadata"]["name"]) for doc in docs]
    assert len(keys) == len(set(keys))
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "streamflow"


def test_every_platform_manifest_is_in_a_kustomization_or_an_example() -> None:
    listed = set()
    for kustomization in K8S_DIR.rglob("kustomization.yaml"):
        spec: Manifest = yaml.safe_load(kustomization.read_text("utf-8"))
        entries = [
            *spec.get("resources", []),
            *(p["path"] for p in spec.get("patches", []) if "path" in p),
        ]
        listed |= {(kustomization.parent / entry).resolve() for entry in entries}
    manual = {K8S_DIR / "platform" / "postgres" / "warehouse-migrate-job.yaml"}
    for root in ("platform", "monitoring", "overlays"):
        for path in (K8S_DIR / root).rglob("*.yaml"):
            if path.name == "kustomization.yaml" or path.name.endswith(".example.yaml"):
                continue
            if path.parent.name == "airflow" and path.name.startswith("values"):
                continue  # Helm values, not objects
            if "tests" in path.relative_to(K8S_DIR).parts:
                continue  # promtool's rule tests
            assert path.resolve() in listed or path in manual, path
