"""The production manifests under k8s/: schema-valid, and right in what a reviewer would check.

Three layers: the FlinkDeployment against the Flink Kubernetes Operator's own CRD schema (applied
the way the API server applies it), every core object and pod template against Kubernetes'
schemas, then the semantics: durable exactly-once state, savepoint upgrades, the Beam worker
sidecar and the options baked into the pipeline jar, RBAC, secrets, rules and security.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import pytest
import yaml

from tests.k8s import schemas
from tests.k8s.images import (
    FLINK_DOCKERFILE,
    PIPELINE_ARGS,
    WORKER_DOCKERFILE,
    dockerfile_arg,
    dockerfile_copies,
    dockerfile_instructions,
    pipeline_args,
)
from tests.k8s.render import (
    BASE_DIR,
    CONFIG_DIR,
    K8S_DIR,
    KUSTOMIZATION,
    Manifest,
    generator_sources,
    kustomization,
    load_documents,
    render,
)
from tests.k8s.schemas import ROOT, crd_errors, kubernetes_errors
from transforms.domain.config import default_rules
from transforms.read import read_rules

SECRET_EXAMPLE = K8S_DIR / "secret.example.yaml"
# The warehouse roles' Secrets (CloudNativePG's managed roles): the workers' PGPASSWORD.
WAREHOUSE_SECRETS_EXAMPLE = K8S_DIR / "platform" / "postgres" / "secrets.example.yaml"
CONSOLE_SECRET_EXAMPLE = K8S_DIR / "console-secret.example.yaml"
PACKAGE_RULES = ROOT / "transforms" / "domain" / "default_rules.yaml"

MAIN_CONTAINER = "flink-main-container"
WORKER_POOL = "beam-worker-pool"
ANCHOR_CONTAINER = "anchor-control-topics"
HEARTBEAT_CONTAINER = "control-topic-heartbeat"
ANCHOR_COMMAND = ["python", "-m", "pipelines.anchor_controls", "--args_file"]
WORKER_POOL_PORT = 50000
JAVA_POOL = "java-worker-pool"
PIPELINE_RUNNER = "org.apache.beam.runners.flink.FlinkPipelineRunner"
# The only options FlinkPipelineRunner.main parses (args4j); anything else fails the job.
PIPELINE_RUNNER_FLAGS = {"--base-job-name", "--flink-conf-dir"}
FLINK_UID = 9999
SECRET_LIKE = re.compile(r"(KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL)", re.IGNORECASE)


# -- helpers ---------------------------------------------------------------------------------


def _objects(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [doc for doc in manifests if doc["kind"] == kind]


def _one(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    (found,) = [doc for doc in _objects(manifests, kind) if doc["metadata"]["name"] == name]
    return found


def _pod_specs(deployment: Manifest) -> dict[str, dict[str, Any]]:
    spec = deployment["spec"]
    return {
        role: spec[role]["podTemplate"]["spec"]
        for role in ("jobManager", "taskManager")
        if "podTemplate" in spec.get(role, {})
    }


def _containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod.get("initContainers", [])
    yield from pod.get("containers", [])


def _container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [container for container in _containers(pod) if container["name"] == name]
    return found


def _mounts(container: dict[str, Any]) -> dict[str, str]:
    """mountPath -> volume name."""
    return {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}


def _pipeline_options() -> dict[str, str | bool]:
    """The args file as {option: value}; a flag without a value is True."""
    options: dict[str, str | bool] = {}
    for arg in pipeline_args():
        name, sep, value = arg.partition("=")
        assert name not in options, f"{name} twice in {PIPELINE_ARGS.name}"
        options[name] = value if sep else True
    return options


# -- the kustomization -----------------------------------------------------------------------


def test_every_manifest_is_listed_in_the_kustomization() -> None:
    # k8s/kustomization.yaml renders the base alone; the overlays build on the same base/.
    assert kustomization()["resources"] == ["base"]
    spec = kustomization(BASE_DIR)
    on_disk = {path.name for path in BASE_DIR.glob("*.yaml")} - {KUSTOMIZATION}
    assert set(spec["resources"]) == on_disk | {"../config"}
    # The example Secrets stay out on purpose: real credentials never live in the repository.
    examples = {SECRET_EXAMPLE.name, CONSOLE_SECRET_EXAMPLE.name}
    assert {path.name for path in K8S_DIR.glob("*.yaml")} == examples | {KUSTOMIZATION}
    assert not any(example in yaml.safe_dump(spec) for example in examples)
    generated = {
        path for files in generator_sources(CONFIG_DIR).values() for path in files.values()
    }
    assert all(path.is_file() for path in generated)
    assert set(CONFIG_DIR.iterdir()) == generated | {CONFIG_DIR / KUSTOMIZATION}


def test_python_rendering_equals_kustomize() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    built = subprocess.run(
        [kubectl, "kustomize", str(K8S_DIR)], capture_output=True, text=True, check=True, timeout=60
    ).stdout

    def keyed(docs: list[Manifest]) -> dict[tuple[str, str], Manifest]:
        return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}

    assert keyed(render()) == keyed([doc for doc in yaml.safe_load_all(built) if doc])


def test_objects_have_unique_names_in_the_streamflow_namespace(manifests: list[Manifest]) -> None:
    keys = [(doc["kind"], doc["metadata"]["name"]) for doc in manifests]
    assert len(keys) == len(set(keys))
    for doc in manifests:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "streamflow", doc["metadata"]["name"]
    assert _one(manifests, "Namespace", "streamflow")


# -- schemas ---------------------------------------------------------------------------------


def test_flinkdeployment_matches_the_operator_crd(
    deployment: Manifest, flinkdeployment_validator: jsonschema.Draft202012Validator
) -> None:
    assert crd_errors(flinkdeployment_validator, deployment) == []


def _with(deployment: Manifest, path: tuple[str | int, ...], value: Any) -> Manifest:
    """A copy of the deployment with the field at ``path`` set to ``value``."""
    changed = copy.deepcopy(deployment)
    *parents, last = path
    node: Any = changed
    for key in parents:
        node = node[key]
    node[last] = value
    return changed


TASK_MANAGER_POD = ("spec", "taskManager", "podTemplate", "spec")
JOB_MANAGER_POD = ("spec", "jobManager", "podTemplate", "spec")


@pytest.mark.parametrize(
    ("path", "value", "error_at"),
    [
        (("spec", "job", "parallelism"), "4", "$.spec.job.parallelism"),
        (("spec", "job", "upgradeMode"), "snapshot", "$.spec.job.upgradeMode"),
        (("spec", "job", "paralelism"), 4, "$.spec.job"),  # unknown field
        (("spec", "flinkVersion"), "v1_21", "$.spec.flinkVersion"),
        (
            ("spec", "flinkConfiguration", "taskmanager.numberOfTaskSlots"),
            2,
            "$.spec.flinkConfiguration['taskmanager.numberOfTaskSlots']",
        ),
        (("spec", "taskManager", "resource", "cpu"), "two", "$.spec.taskManager.resource.cpu"),
        (
            (*TASK_MANAGER_POD, "initContainers", 0, "ports", 0, "containerPort"),
            "50000",
            "$.spec.taskManager.podTemplate.spec.initContainers[0].ports[0].containerPort",
        ),
        (
            (*JOB_MANAGER_POD, "initContainers", 0, "command"),
            "python -m pipelines.anchor_controls",
            "$.spec.jobManager.podTemplate.spec.initContainers[0].command",
        ),
        (
            (*TASK_MANAGER_POD, "securityContxt"),
            {},
            "$.spec.taskManager.podTemplate.spec",
        ),
        (("metadata", "name"), "Fraud_Detection", "$.metadata.name"),
    ],
)
def test_the_crd_validator_rejects_a_broken_deployment(
    deployment: Manifest,
    flinkdeployment_validator: jsonschema.Draft202012Validator,
    path: tuple[str | int, ...],
    value: Any,
    error_at: str,
) -> None:
    broken = _with(deployment, path, value)
    # Only what the change broke: the intact deployment's own validity is tested above.
    new_errors = set(crd_errors(flinkdeployment_validator, broken)) - set(
        crd_errors(flinkdeployment_validator, deployment)
    )
    assert new_errors, f"{path}={value!r} was accepted"
    assert all(error.startswith(f"{error_at}:") for error in new_errors), new_errors


def _core_objects() -> list[Manifest]:
    return [doc for doc in render() if doc["kind"] != "FlinkDeployment"]


@pytest.mark.parametrize(
    "manifest", _core_objects(), ids=lambda doc: f"{doc['kind']}/{doc['metadata']['name']}"
)
def test_core_objects_match_the_kubernetes_schemas(manifest: Manifest) -> None:
    assert kubernetes_errors(manifest) == []


@pytest.mark.parametrize("role", ["jobManager", "taskManager"])
def test_pod_templates_are_valid_pods(deployment: Manifest, role: str) -> None:
    template = deployment["spec"][role]["podTemplate"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": role.lower()}, **template}
    assert kubernetes_errors(pod) == []


def test_the_kubernetes_validator_rejects_broken_objects(manifests: list[Manifest]) -> None:
    role = copy.deepcopy(_one(manifests, "Role", "streamflow-flink"))
    role["rules"][0]["verbs"] = "get"
    policy = copy.deepcopy(_one(manifests, "NetworkPolicy", "fraud-detection-internal"))
    policy["spec"]["podSelektor"] = policy["spec"].pop("podSelector")
    unknown_kind = {"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "x"}}
    for broken in (role, policy, unknown_kind):
        assert kubernetes_errors(broken), broken


# -- state, checkpoints and upgrades ---------------------------------------------------------


def test_checkpoints_savepoints_and_ha_live_on_object_storage(deployment: Manifest) -> None:
    config = deployment["spec"]["flinkConfiguration"]
    local_mounts = {
        path
        for pod in _pod_specs(deployment).values()
        for container in _containers(pod)
        for path in _mounts(container)
    }
    for key in ("state.checkpoints.dir", "state.savepoints.dir", "high-availability.storageDir"):
        location = config[key]
        assert location.startswith("s3://"), f"{key}={location} is not object storage"
        assert not any(location.startswith(path) for path in local_mounts), key


def test_checkpoints_are_exactly_once_incremental_on_rocksdb(deployment: Manifest) -> None:
    config = deployment["spec"]["flinkConfiguration"]
    assert config["state.backend.type"] == "rocksdb"
    assert config["state.backend.incremental"] == "true"
    assert config["execution.checkpointing.mode"] == "EXACTLY_ONCE"
    assert config["execution.checkpointing.externalized-checkpoint-retention"] == (
        "RETAIN_ON_CANCELLATION"
    )
    for key in ("interval", "min-pause", "timeout"):
        assert re.fullmatch(r"\d+(ms|s|min|h)", config[f"execution.checkpointing.{key}"]), key
    assert int(config["state.checkpoints.num-retained"]) >= 2


def test_restarts_back_off_exponentially_with_explicit_values(deployment: Manifest) -> None:
    config = deployment["spec"]["flinkConfiguration"]
    assert config["restart-strategy.type"] == "exponential-delay"
    for key in ("initial-backoff", "max-backoff", "backoff-multiplier", "reset-backoff-threshold"):
        assert config[f"restart-strategy.exponential-delay.{key}"], key


def test_job_upgrades_through_savepoints_and_keeps_all_state(deployment: Manifest) -> None:
    job = deployment["spec"]["job"]
    assert job["upgradeMode"] == "savepoint"
    assert job["state"] == "running"
    assert job["allowNonRestoredState"] is False
    config = deployment["spec"]["flinkConfiguration"]
    assert config["high-availability.type"] == "kubernetes"
    assert config["kubernetes.operator.periodic.savepoint.interval"] not in ("0", "0s")
    assert int(config["kubernetes.operator.savepoint.history.max.count"]) >= 1
    assert config["kubernetes.operator.savepoint.history.max.age"]


def test_the_deployment_name_is_a_valid_flink_cluster_id(deployment: Manifest) -> None:
    # Flink's native Kubernetes mode names services after it: a DNS-1035 label of <= 45 chars.
    assert re.fullmatch(r"[a-z]([-a-z0-9]{0,43}[a-z0-9])?", deployment["metadata"]["name"])


# -- the Beam worker sidecar and the pipeline jar --------------------------------------------


def _assert_native_sidecar(pod: dict[str, Any], container: dict[str, Any]) -> None:
    """An init container that restarts always: Flink's TaskManager pods never restart, so a
    sidecar among the pod's containers that died would stay dead; and Flink's container starts
    once the sidecar's startup probe passes."""
    assert container in pod["initContainers"]
    assert container["restartPolicy"] == "Always"
    assert "startupProbe" in container


def test_every_taskmanager_runs_the_beam_worker_pool_as_a_sidecar(deployment: Manifest) -> None:
    pods = _pod_specs(deployment)
    worker = _container(pods["taskManager"], WORKER_POOL)
    assert worker["args"] == ["--worker_pool"]
    assert [port["containerPort"] for port in worker["ports"]] == [WORKER_POOL_PORT]
    _assert_native_sidecar(pods["taskManager"], worker)
    assert worker["startupProbe"]["tcpSocket"]["port"] == WORKER_POOL_PORT
    assert WORKER_POOL not in [container["name"] for container in _containers(pods["jobManager"])]
    for pod in pods.values():
        assert _container(pod, MAIN_CONTAINER) in pod["containers"]


def test_every_taskmanager_runs_the_java_worker_pool_the_jar_names(deployment: Manifest) -> None:
    # The image's expansion service names an EXTERNAL environment for the Kafka steps' Java
    # code: the pool sidecar of each TaskManager pod, on the port it listens on.
    pods = _pod_specs(deployment)
    pool = _container(pods["taskManager"], JAVA_POOL)
    _assert_native_sidecar(pods["taskManager"], pool)
    assert JAVA_POOL not in [container["name"] for container in _containers(pods["jobManager"])]
    assert pool["image"] == deployment["spec"]["image"]  # the Flink image has the harness
    launcher, port_flag = pool["command"]
    assert launcher in {target for _, target in dockerfile_copies(FLINK_DOCKERFILE)}
    port = int(port_flag.removeprefix("--pool_port="))
    # It listens on loopback only: its probes connect from inside the container.
    for probe in ("startupProbe", "livenessProbe"):
        assert pool[probe]["exec"]["command"][-1] == f"exec 3<>/dev/tcp/127.0.0.1/{port}"
    (expansion,) = [
        words
        for words in dockerfile_instructions(FLINK_DOCKERFILE)
        if any(word.endswith(".ExpansionService") for word in words)
    ]
    assert "--defaultEnvironmentType=EXTERNAL" in expansion
    assert f"--defaultEnvironmentConfig=localhost:{port}" in expansion
    # Its heap and class space leave room in the container for the JVM's own memory.
    options = {item["name"]: item["value"] for item in pool["env"]}["STREAMFLOW_JAVA_HARNESS_OPTS"]
    capped_mb = sum(
        int(re.search(rf"{flag}(\d+)m", options)[1])  # type: ignore[index]
        for flag in ("-Xmx", "MaxMetaspaceSize=", "MaxDirectMemorySize=", "ReservedCodeCacheSize=")
    )
    limit = pool["resources"]["limits"]["memory"]
    assert limit.endswith("Gi")
    assert capped_mb + 150 <= int(limit[:-2]) * 1024  # threads, GC and the JVM's own


def test_the_jobmanager_anchors_the_control_topics_before_the_job_starts(
    deployment: Manifest,
) -> None:
    # No Python launcher starts the jar's job, so the JobManager pod anchors the control topics
    # (pipelines/anchor_controls.py) before Flink's container starts the job, once per start.
    pods = _pod_specs(deployment)
    anchor = _container(pods["jobManager"], ANCHOR_CONTAINER)
    assert [container["name"] for container in pods["jobManager"]["initContainers"]] == [
        ANCHOR_CONTAINER
    ]
    assert ANCHOR_CONTAINER not in [c["name"] for c in _containers(pods["taskManager"])]
    # The worker image: the project with its Kafka client, and the options the jar is built with.
    assert anchor["image"] == _container(pods["taskManager"], WORKER_POOL)["image"]
    # A command, not args: the image's entrypoint is Beam's boot program.
    *command, args_file = anchor["command"]
    assert command == ANCHOR_COMMAND
    assert ("k8s/config/fraud-pipeline.args", args_file) in dockerfile_copies(WORKER_DOCKERFILE)


def test_the_jobmanager_anchors_the_control_topics_at_every_beat_while_the_job_runs(
    deployment: Manifest,
) -> None:
    # A job restored from an early checkpoint needs a new anchor (pipelines.kafka.keep_anchoring):
    # a sidecar of the JobManager pod, the pod that restores it, anchors as the launcher does.
    from pipelines.kafka import CONTROL_HEARTBEAT_S

    pods = _pod_specs(deployment)
    heartbeat = _container(pods["jobManager"], HEARTBEAT_CONTAINER)
    assert heartbeat in pods["jobManager"]["containers"]
    anchor = _container(pods["jobManager"], ANCHOR_CONTAINER)
    assert heartbeat["image"] == anchor["image"]
    assert heartbeat["command"] == [*anchor["command"], "--every", f"{CONTROL_HEARTBEAT_S:g}"]


def test_the_anchor_command_reads_the_kafka_options_of_the_jar() -> None:
    from pipelines.anchor_controls import kafka_options

    options = kafka_options(["--args_file", str(PIPELINE_ARGS)])
    args = _pipeline_options()
    assert options.kafka_bootstrap_servers == args["--kafka_bootstrap_servers"]
    assert options.feedback_topic == args["--feedback_topic"]
    assert options.blacklist_changes_topic == args["--blacklist_changes_topic"]
    assert options.rules_topic == args["--rules_topic"]


def test_the_pipeline_jar_sends_python_work_to_the_sidecar(deployment: Manifest) -> None:
    options = _pipeline_options()
    assert options["--runner"] == "FlinkRunner"
    assert options["--environment_type"] == "EXTERNAL"
    assert options["--environment_config"] == f"localhost:{WORKER_POOL_PORT}"
    assert options["--streaming"] is True
    flink_version = deployment["spec"]["flinkVersion"]
    assert f"v{str(options['--flink_version']).replace('.', '_')}" == flink_version


def test_every_slot_has_its_own_python_worker_process(deployment: Manifest) -> None:
    # Flink starts --sdk_worker_parallelism workers per TaskManager and spreads the slots'
    # stages over them; one per slot, each with a core of the sidecar.
    slots = int(deployment["spec"]["flinkConfiguration"]["taskmanager.numberOfTaskSlots"])
    assert int(_pipeline_options()["--sdk_worker_parallelism"]) == slots
    worker = _container(_pod_specs(deployment)["taskManager"], WORKER_POOL)
    assert float(worker["resources"]["limits"]["cpu"]) >= slots
    cache_mb = int(_pipeline_options()["--max_cache_memory_usage_mb"])
    assert worker["resources"]["limits"]["memory"].endswith("Gi")
    assert slots * cache_mb < int(worker["resources"]["limits"]["memory"][:-2]) * 1024 // 2


def test_the_pipeline_args_are_all_known_options() -> None:
    from apache_beam.options.pipeline_options import PipelineOptions

    import pipelines.options  # noqa: F401  (registers FraudOptions)

    args = pipeline_args()
    known = PipelineOptions(args).get_all_options()
    with_unknown = PipelineOptions(args).get_all_options(retain_unknown_options=True)
    assert set(with_unknown) - set(known) == set()


def test_the_job_runs_the_jar_built_into_the_flink_image(deployment: Manifest) -> None:
    job = deployment["spec"]["job"]
    jar = PurePosixPath(job["jarURI"].removeprefix("local://"))
    assert job["jarURI"].startswith("local:///opt/flink/usrlib/")
    assert job["entryClass"] == PIPELINE_RUNNER
    flags = {arg.split("=", 1)[0] for arg in job.get("args", []) if arg.startswith("-")}
    assert flags <= PIPELINE_RUNNER_FLAGS, "FlinkPipelineRunner fails on other arguments"
    built = str(_pipeline_options()["--output_executable_path"])
    assert (built, str(jar)) in dockerfile_copies(FLINK_DOCKERFILE)


def test_the_flink_image_and_its_s3_plugin_match_the_flink_version(deployment: Manifest) -> None:
    image_version = dockerfile_arg(FLINK_DOCKERFILE, "FLINK_IMAGE").split(":")[1].split("-")[0]
    assert f"v{'_'.join(image_version.split('.')[:2])}" == deployment["spec"]["flinkVersion"]
    for pod in _pod_specs(deployment).values():
        env = {var["name"]: var for var in _container(pod, MAIN_CONTAINER)["env"]}
        assert env["ENABLE_BUILT_IN_PLUGINS"]["value"] == f"flink-s3-fs-presto-{image_version}.jar"


def test_the_rules_and_model_are_built_into_the_jar() -> None:
    options = _pipeline_options()
    # The build stage has the repository's rules file where --rules points.
    assert ("k8s/config/rules.yaml", options["--rules"]) in dockerfile_copies(FLINK_DOCKERFILE)
    # One immutable, versioned folder per model: a rebuild cannot pick up another model.
    model = str(options["--model"])
    assert re.fullmatch(r"s3://[^/]+/.+/[^/]+/", model), model
    assert not re.search(r"/(latest|current)/$", model), model


def test_the_pipeline_configmap_records_what_the_image_was_built_with(
    manifests: list[Manifest],
) -> None:
    record = _one(manifests, "ConfigMap", "streamflow-pipeline")
    assert record["data"] == {
        "fraud-pipeline.args": PIPELINE_ARGS.read_text("utf-8"),
        "rules.yaml": (CONFIG_DIR / "rules.yaml").read_text("utf-8"),
    }
    built_from = {source for source, _ in dockerfile_copies(FLINK_DOCKERFILE)}
    assert {"k8s/config/fraud-pipeline.args", "k8s/config/rules.yaml"} <= built_from


def test_the_deployed_rules_are_the_packaged_defaults(manifests: list[Manifest]) -> None:
    record = _one(manifests, "ConfigMap", "streamflow-pipeline")
    package_defaults = yaml.safe_load(PACKAGE_RULES.read_text("utf-8"))
    assert yaml.safe_load(record["data"]["rules.yaml"]) == package_defaults
    deployed = read_rules(str(CONFIG_DIR / "rules.yaml"))
    assert deployed.rules_version == default_rules().rules_version


# -- identity, secrets and security ----------------------------------------------------------


def test_the_flink_service_account_is_bound_to_the_job_role(
    deployment: Manifest, manifests: list[Manifest]
) -> None:
    account = deployment["spec"]["serviceAccount"]
    assert _one(manifests, "ServiceAccount", account)
    bindings = [
        binding
        for binding in _objects(manifests, "RoleBinding")
        if {"kind": "ServiceAccount", "name": account, "namespace": "streamflow"}
        in binding["subjects"]
    ]
    (binding,) = bindings
    assert binding["roleRef"]["kind"] == "Role"
    role = _one(manifests, "Role", binding["roleRef"]["name"])
    granted = {
        (resource, verb)
        for rule in role["rules"]
        if rule["apiGroups"] == [""]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    # TaskManager pods are created and removed by the JobManager; HA state is in ConfigMaps.
    for resource in ("pods", "configmaps"):
        for verb in ("get", "list", "watch", "create", "update", "delete"):
            assert (resource, verb) in granted, (resource, verb)


def test_no_secret_value_is_in_the_manifests(
    deployment: Manifest, manifests: list[Manifest]
) -> None:
    assert _objects(manifests, "Secret") == []
    assert all("secretGenerator" not in kustomization(root) for root in (BASE_DIR, CONFIG_DIR))
    assert not [key for key in deployment["spec"]["flinkConfiguration"] if SECRET_LIKE.search(key)]
    (example,) = load_documents(SECRET_EXAMPLE)
    referenced = set()
    for pod in _pod_specs(deployment).values():
        for container in _containers(pod):
            for var in container.get("env", []):
                if SECRET_LIKE.search(var["name"]):
                    assert "value" not in var, f"{container['name']}: {var['name']} is literal"
                    ref = var["valueFrom"]["secretKeyRef"]
                    referenced.add((ref["name"], ref["key"]))
    examples = [example, *load_documents(WAREHOUSE_SECRETS_EXAMPLE)]
    offered = {(doc["metadata"]["name"], key) for doc in examples for key in doc["stringData"]}
    assert {(example["metadata"]["name"], key) for key in example["stringData"]} <= referenced
    assert referenced <= offered, referenced - offered
    for doc in examples:
        secrets = {k: v for k, v in doc["stringData"].items() if SECRET_LIKE.search(k)}
        assert all(re.fullmatch(r"<[^>]+>", value) for value in secrets.values())


def test_pods_run_as_the_flink_user_without_privileges(deployment: Manifest) -> None:
    for role, pod in _pod_specs(deployment).items():
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True, role
        assert security["runAsUser"] == FLINK_UID, role
        assert security["fsGroup"] == FLINK_UID, role
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, role
        for container in _containers(pod):
            name = f"{role}/{container['name']}"
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert "/tmp" in _mounts(container), f"{name} has no writable /tmp"
            # Only Flink's container writes to its image (plugins, conf) at start-up.
            read_only = context.get("readOnlyRootFilesystem") is True
            assert read_only or container["name"] == MAIN_CONTAINER, name


def test_every_container_has_resources(deployment: Manifest) -> None:
    for role in ("jobManager", "taskManager"):
        resource = deployment["spec"][role]["resource"]
        assert resource["cpu"] > 0, role
        assert resource["memory"], role
    for role, pod in _pod_specs(deployment).items():
        for container in _containers(pod):
            if container["name"] == MAIN_CONTAINER:
                continue  # sized by the spec's resource above
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[kind]), f"{role}/{container['name']}"


def test_network_policies_open_only_the_rest_and_metrics_ports_beyond_the_cluster(
    deployment: Manifest, manifests: list[Manifest]
) -> None:
    cluster = {"app": deployment["metadata"]["name"]}
    policies = [
        policy
        for policy in _objects(manifests, "NetworkPolicy")
        if policy["metadata"]["name"].startswith(deployment["metadata"]["name"])
    ]
    assert len(policies) == 3
    assert all(
        policy["spec"]["podSelector"]["matchLabels"].items() >= cluster.items()
        for policy in policies
    )
    for policy in policies:
        for rule in policy["spec"]["ingress"]:
            same_cluster = rule["from"] == [{"podSelector": {"matchLabels": cluster}}]
            ports = [port["port"] for port in rule.get("ports", [])]
            assert same_cluster or ports in ([8081], [METRICS_PORT]), policy["metadata"]["name"]


METRICS_PORT = 9249


def test_every_flink_pod_offers_its_prometheus_metrics(deployment: Manifest) -> None:
    spec = deployment["spec"]
    configuration = spec["flinkConfiguration"]
    assert configuration["metrics.reporter.prom.factory.class"].endswith(
        "PrometheusReporterFactory"
    )
    assert configuration["metrics.reporter.prom.port"] == str(METRICS_PORT)
    for role in ("jobManager", "taskManager"):
        template = spec[role]["podTemplate"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(METRICS_PORT)
        flink = next(
            c for c in template["spec"]["containers"] if c["name"] == "flink-main-container"
        )
        assert {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"} in flink[
            "ports"
        ]


def test_a_failed_crd_download_is_an_error_that_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*_: Any, **__: Any) -> None:
        raise OSError("Network is unreachable")

    monkeypatch.setattr(schemas, "CACHE_DIR", tmp_path)
    monkeypatch.setattr("urllib.request.urlopen", unreachable)
    with pytest.raises(schemas.SchemaUnavailableError, match=r"Maven Central.*unreachable"):
        schemas.flinkdeployment_crd()
    assert list(tmp_path.iterdir()) == []
