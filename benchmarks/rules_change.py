"""How long a registered rules version takes to reach a live job, and when it first scores.

    scripts/flink.sh start; scripts/kafka.sh start
    python benchmarks/rules_change.py [--rate 100] [--grace_s 60] [--model DIR]

One live job (``pipelines.fraud`` on Flink, Kafka in and out, the default model if present) on
fresh topics, its rules topic among them. Events stamped with the wall clock are published at
``--rate`` per second. Once the job scores, a version is published as ``python -m pipelines.rules
register`` publishes it (keyed by a registration id, stamped at its registration), effective
``--grace_s`` later, with a threshold that makes nearly every event an alert. Prints JSON:

* ``learned_s``: registration to every customer shard holding it (the job's
  ``rules_changes_learned_by_shards`` counter on Flink's Prometheus endpoint, polled every
  0.25 s, reaching ``--customer_shards``);
* ``first_new_alert_after_effective_s``: the effective time to the first alert of the new version
  on the alerts topic (its broker timestamp);
* ``alerts_by_side``: alerts of events before and after the effective time, by version (every
  one before must be the old version's, every one after the new one's);
* ``late_in_shards``: the counter of versions that arrived after their time (0 expected).

With ``--model DIR`` (an artifact other than the job's own model), a model version of it is
registered too, as ``python -m pipelines.models register`` publishes it, effective at the same
instant: the report adds ``first_new_model_alert_after_effective_s`` (the workers read the
artifact from ``DIR`` the first time an event needs it) and ``alerts_by_model``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.kafka_streaming import accounted, metric_lines, script, stop_job  # noqa: E402
from pipelines.options import DEFAULT_CUSTOMER_SHARDS  # noqa: E402
from pipelines.rules.publish import publish  # noqa: E402
from transforms.domain.config import default_rules  # noqa: E402
from transforms.domain.event_time import parse_timestamp  # noqa: E402
from transforms.domain.model_registry import ModelChange, encode_model_change  # noqa: E402
from transforms.domain.rules_registry import (  # noqa: E402
    RulesChange,
    encode_rules_change,
    new_rules_change,
)

EVERY_EVENT_ALERTS = "alert_threshold: 0.01\n"
SHARD_COUNTER = re.compile(
    r"^flink_taskmanager_job_task_operator_streamflow_(rules_changes_\w+)"
    r'\{[^}]*job_name="([^"]*)"[^}]*\} (\S+)$'
)


def registered_model(location: str, change: RulesChange) -> ModelChange:
    """A model version of the artifact at ``location``, registered and effective with
    ``change``."""
    from ml.artifact import load_artifact

    artifact = load_artifact(location)
    return ModelChange(
        artifact.model_version,
        artifact.metadata["model_sha256"],
        str(Path(location).resolve()),
        change.effective_from_ms,
        change.registered_at_ms,
        "bench",
        "bench",
    )


def shard_counters(urls: list[str], job_name: str) -> dict[str, float]:
    wanted = re.sub(r"[^A-Za-z0-9:_]", "_", job_name)
    found: dict[str, float] = {}
    for line in metric_lines(urls):
        match = SHARD_COUNTER.match(line)
        if match and wanted in match.group(2):
            found[match.group(1)] = found.get(match.group(1), 0.0) + float(match.group(3))
    return found


class Publisher(threading.Thread):
    """Events of 5,000 customers at ``rate`` per second, stamped now."""

    def __init__(self, bootstrap: str, topic: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self.topic, self.rate = topic, rate
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        pick = random.Random(7)
        started = time.time()
        while not self.stop.is_set():
            delay = started + self.sent / self.rate - time.time()
            if delay > 0:
                time.sleep(delay)
            now = time.time()
            customer = f"C{pick.randrange(5000):04d}"
            event = {
                "schema_version": 2,
                "transaction_id": f"rc-{self.sent}",
                "customer_id": customer,
                "store_id": f"S-{pick.randrange(20):03d}",
                "product_id": "P-1",
                "amount": f"{pick.uniform(5, 300):.2f}",
                "currency": "BRL",
                "payment_method": "credit_card",
                "latitude": -23.55,
                "longitude": -46.63,
                "timestamp": datetime.fromtimestamp(now, UTC).isoformat(),
            }
            self.producer.produce(
                self.topic,
                key=customer.encode(),
                value=json.dumps(event).encode(),
                timestamp=int(now * 1000),
            )
            self.producer.poll(0)
            self.sent += 1
        self.producer.flush(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--grace_s", type=float, default=60.0)
    parser.add_argument("--after_s", type=float, default=15.0, help="how long to run after T")
    parser.add_argument("--model", help="an artifact to register as a model version too")
    args = parser.parse_args()

    bootstrap = script("kafka", "bootstrap")
    master = script("flink", "master")
    urls = script("flink", "metrics-urls").split()
    suffix = uuid.uuid4().hex[:8]
    names = ("in", "alerts", "dlq", "rules", "metrics")
    topics = {name: f"bench-{name}-{suffix}" for name in names}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    partitions = {"in": 3, "alerts": 3, "dlq": 1, "rules": 1, "metrics": 3}
    compacted = {"cleanup.policy": "compact"}
    for future in admin.create_topics(
        [
            NewTopic(topic, partitions[name], 1, config=compacted if name == "rules" else {})
            for name, topic in topics.items()
        ]
    ).values():
        future.result()
    job_name = f"streamflow-rules-{suffix}"
    out_dir = tempfile.mkdtemp(prefix="rules-bench-")
    command = [
        sys.executable, "-m", "pipelines.fraud", "--runner=FlinkRunner",
        f"--flink_master={master}", "--streaming", f"--job_name={job_name}",
        f"--kafka_bootstrap_servers={bootstrap}", f"--input_topic={topics['in']}",
        f"--alerts_topic={topics['alerts']}", f"--dlq_topic={topics['dlq']}",
        f"--rules_topic={topics['rules']}", f"--metrics_topic={topics['metrics']}",
        f"--kafka_consumer_group={job_name}", f"--output_dir={out_dir}",
    ]  # fmt: skip
    launcher_log = (Path(out_dir) / "launcher.err").open("w")
    launcher = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=launcher_log)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{suffix}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topics["alerts"]])
    publisher = Publisher(bootstrap, topics["in"], args.rate)
    publisher.start()
    report: dict[str, Any] = {"rate": args.rate, "grace_s": args.grace_s}
    try:
        while accounted(urls, job_name) < 1:
            if launcher.poll() is not None:
                sys.exit(f"the job stopped; see {out_dir}/launcher.err")
            time.sleep(0.5)
        time.sleep(5)  # past the start-up's first bundles
        registered = time.time()
        effective = registered + args.grace_s
        change = new_rules_change(
            EVERY_EVENT_ALERTS, int(effective * 1000), int(registered * 1000), "bench", "bench"
        )
        publish(
            bootstrap, topics["rules"], "1", encode_rules_change(change), change.registered_at_ms
        )
        model = registered_model(args.model, change) if args.model else None
        if model is not None:
            record = encode_model_change(model)
            publish(bootstrap, topics["rules"], "model-1", record, model.registered_at_ms)
        learned = None
        shards = DEFAULT_CUSTOMER_SHARDS * (2 if model is not None else 1)
        while time.time() < effective + args.after_s:
            counters = shard_counters(urls, job_name)
            if learned is None and counters.get("rules_changes_learned_by_shards", 0) >= shards:
                learned = time.time() - registered
            time.sleep(0.25)
        publisher.stop.set()
        time.sleep(5)  # the last alerts reach the topic
        sides: dict[str, dict[str, int]] = {"before": {}, "after": {}}
        by_model: dict[str, dict[str, int]] = {"before": {}, "after": {}}
        first_new = first_new_model = None
        old, new = default_rules().rules_version, change.rules_version
        while (message := consumer.poll(2.0)) is not None:
            if message.error():
                continue
            alert = json.loads(message.value())
            # Compared as the pipeline compares: in milliseconds.
            at_ms = parse_timestamp(alert["event_time"], None)
            side = sides["after" if at_ms >= change.effective_from_ms else "before"]
            version = (
                "new"
                if alert["rules_version"] == new
                else ("old" if alert["rules_version"] == old else alert["rules_version"])
            )
            side[version] = side.get(version, 0) + 1
            received = message.timestamp()[1] / 1000
            if version == "new":
                first_new = received if first_new is None else min(first_new, received)
            if model is not None:
                new_model = alert["model_version"] == model.model_version
                kind = "new" if new_model else str(alert["model_version"])
                side_of_model = by_model["after" if at_ms >= change.effective_from_ms else "before"]
                side_of_model[kind] = side_of_model.get(kind, 0) + 1
                if new_model:
                    first_new_model = (
                        received if first_new_model is None else min(first_new_model, received)
                    )
        report.update(
            {
                "learned_s": round(learned, 2) if learned is not None else None,
                "first_new_alert_after_effective_s": (
                    round(first_new - effective, 2) if first_new is not None else None
                ),
                "alerts_by_side": sides,
                "late_in_shards": shard_counters(urls, job_name).get(
                    "rules_changes_late_in_shards", 0
                ),
                "events_sent": publisher.sent,
            }
        )
        if model is not None:
            report["first_new_model_alert_after_effective_s"] = (
                round(first_new_model - effective, 2) if first_new_model is not None else None
            )
            report["alerts_by_model"] = by_model
    finally:
        publisher.stop.set()
        consumer.close()
        stop_job(master, job_name, launcher)
        launcher_log.close()
        for future in admin.delete_topics(list(topics.values())).values():
            future.result()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
