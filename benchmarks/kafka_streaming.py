"""Latency and sustained throughput of the live path: Kafka into the Flink job, alerts out.

    scripts/postgres.sh start; scripts/flink.sh start; scripts/kafka.sh start
    python benchmarks/kafka_streaming.py [--rates 200,1000,max] [--seconds 30]
        [--max_bundle_time_mills 30] [--pipeline_arg=--OPTION=VALUE ...]

One live job (``pipelines.fraud`` with ``--kafka_bootstrap_servers``, rules and the default
anomaly model if present, checkpoints every 5 s) on fresh topics. One seeded stream is then
published in phases, one per rate: ``--seconds`` of events paced at each fixed rate, and for
``max`` the rest of the stream as fast as the producer goes.

* ``latency``: for every alert of a phase, its record's timestamp on the alerts topic (set by
  the job's Kafka writer when it sends it) minus the moment this script handed the event to its
  producer; p50/p90/p99 and max. The events are historic (replayed with their own event times),
  so the watermark, set by their create times, moves as fast as they are published.
* ``sustained_events_per_s``: events of the phase over the time from its first publish to the
  job's counters (scraped from Flink's Prometheus endpoint) accounting for its last event.

Prints one JSON document. Numbers drift with machine load; run it more than once.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.hot_store import concentrate_on_one_store, hot_share  # noqa: E402
from pipelines.fraud import LIVE_MAX_BUNDLE_TIME_MS  # noqa: E402
from pipelines.produce import key_and_time  # noqa: E402
from pipelines.synthetic.dataset import GeneratorConfig, generate_events  # noqa: E402
from transforms.domain.event_time import business_timezone  # noqa: E402

COUNTER = re.compile(
    r'^flink_taskmanager_job_task_operator_streamflow_(scored|dlq_\w+)\{[^}]*job_name="([^"]*)"'
    r"[^}]*\} (\S+)$"
)


def script(service: str, command: str) -> str:
    done = subprocess.run(
        [str(ROOT / "scripts" / f"{service}.sh"), command],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def metric_lines(urls: list[str]) -> list[str]:
    """The lines of every Prometheus endpoint that answers."""
    lines: list[str] = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                lines += response.read().decode().splitlines()
        except OSError:
            continue
    return lines


def accounted(urls: list[str], job_name: str) -> float:
    """Events scored or dead-lettered so far, summed over the job's tasks."""
    wanted = re.sub(r"[^A-Za-z0-9:_]", "_", job_name)
    total = 0.0
    for line in metric_lines(urls):
        match = COUNTER.match(line)
        if match and wanted in match.group(2):
            total += float(match.group(3))
    return total


class AlertWatcher(threading.Thread):
    """Collects (transaction_id, broker timestamp) of every alert on the topic."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
            }
        )
        self.consumer.subscribe([topic])
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            message = self.consumer.poll(0.5)
            if message is None or message.error():
                continue
            alert = json.loads(message.value())
            self.seen.setdefault(alert["transaction_id"], message.timestamp()[1] / 1000.0)
        self.consumer.close()


def publish(
    producer: Producer,
    topic: str,
    lines: list[bytes],
    rate: float | None,
    sent_at: dict[str, float],
) -> float:
    """Publishes ``lines`` at ``rate`` per second (None: unpaced); returns the start time."""
    zone = business_timezone("America/Sao_Paulo")
    started = time.time()
    for index, line in enumerate(lines):
        if rate:
            delay = started + index / rate - time.time()
            if delay > 0:
                time.sleep(delay)
        key, timestamp = key_and_time(line, zone)
        if key is not None:
            sent_at[json.loads(line)["transaction_id"]] = time.time()
        while True:
            try:
                producer.produce(topic, value=line, key=key, timestamp=timestamp or 0)
                break
            except BufferError:
                producer.poll(0.2)
        producer.poll(0)
    producer.flush(60)
    return started


def stop_job(master: str, job_name: str, launcher: subprocess.Popen[bytes]) -> None:
    """Cancel the running job named ``job_name`` in Flink and wait for its launcher, which
    ends once its job is cancelled (and stops the job server it started)."""
    jobs = json.load(urllib.request.urlopen(f"http://{master}/jobs/overview"))["jobs"]
    for job in jobs:
        if job["name"].startswith(job_name) and job["state"] == "RUNNING":
            request = urllib.request.Request(
                f"http://{master}/jobs/{job['jid']}?mode=cancel", method="PATCH"
            )
            urllib.request.urlopen(request).close()
    try:
        launcher.wait(90)
    except subprocess.TimeoutExpired:
        launcher.kill()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="200,1000,max")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--max_bundle_time_mills", type=int)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--hot_store_share",
        type=float,
        default=0.0,
        help="share of the transactions moved to the busiest store (a hot key; 0: none)",
    )
    parser.add_argument(
        "--entry",
        default="pipelines.fraud",
        help="the job's module (benchmarks.live_ceiling: the runner's ceiling)",
    )
    parser.add_argument(
        "--pipeline_arg", action="append", default=[], help="extra option for the job (repeatable)"
    )
    args = parser.parse_args()

    bootstrap = script("kafka", "bootstrap")
    master = script("flink", "master")
    urls = script("flink", "metrics-urls").split()
    lines = list(
        generate_events(GeneratorConfig(seed=42, customers=args.customers, days=args.days)).lines
    )
    lines = concentrate_on_one_store(lines, args.hot_store_share)
    suffix = uuid.uuid4().hex[:8]
    topics = {name: f"bench-{name}-{suffix}" for name in ("in", "alerts", "dlq", "metrics")}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    partitions = {"in": 3, "alerts": 3, "dlq": 1, "metrics": 3}
    for future in admin.create_topics(
        # Kept forever: the replayed events are weeks old, and a retention in days would let
        # the broker delete them (its retention pass runs every 5 minutes).
        [
            NewTopic(topic, partitions[name], 1, config={"retention.ms": "-1"})
            for name, topic in topics.items()
        ]
    ).values():
        future.result()

    job_name = f"streamflow-bench-{suffix}"
    out_dir = tempfile.mkdtemp(prefix="kafka-bench-")
    command = [
        sys.executable, "-m", args.entry, "--runner=FlinkRunner",
        f"--flink_master={master}", "--streaming", f"--job_name={job_name}",
        f"--kafka_bootstrap_servers={bootstrap}", f"--input_topic={topics['in']}",
        f"--alerts_topic={topics['alerts']}", f"--dlq_topic={topics['dlq']}",
        f"--metrics_topic={topics['metrics']}",
        f"--kafka_consumer_group={job_name}", f"--output_dir={out_dir}",
    ]  # fmt: skip
    if args.max_bundle_time_mills:
        command.append(f"--max_bundle_time_mills={args.max_bundle_time_mills}")
    command += args.pipeline_arg
    launcher_log = (Path(out_dir) / "launcher.err").open("w")
    launcher = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=launcher_log)
    watcher = AlertWatcher(bootstrap, topics["alerts"])
    watcher.start()
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5}
    )
    report: dict[str, Any] = {"events_in_stream": len(lines), "phases": []}
    try:
        submitted = time.time()
        # Warm-up: the first events wait for the job to start; they are not measured.
        warm = lines[:200]
        publish(producer, topics["in"], warm, None, {})
        while accounted(urls, job_name) < len(warm):
            if launcher.poll() is not None:
                sys.exit(f"the job stopped; see {out_dir}/launcher.err")
            time.sleep(1)
        report["first_output_s"] = round(time.time() - submitted, 1)
        offset, done = len(warm), float(len(warm))
        for rate_name in args.rates.split(","):
            rate = None if rate_name == "max" else float(rate_name)
            count = len(lines) - offset if rate is None else int(rate * args.seconds)
            phase = lines[offset : offset + count]
            if not phase:
                break
            sent_at: dict[str, float] = {}
            started = publish(producer, topics["in"], phase, rate, sent_at)
            published_s = time.time() - started
            done += len(phase)
            deadline = time.time() + 600
            while accounted(urls, job_name) < done and time.time() < deadline:
                time.sleep(0.5)
            finished_s = time.time() - started
            time.sleep(3)  # the last alerts reach the topic
            latencies = [
                watcher.seen[tid] - sent for tid, sent in sent_at.items() if tid in watcher.seen
            ]
            report["phases"].append(
                {
                    "rate": rate_name,
                    "events": len(phase),
                    "published_events_per_s": round(len(phase) / published_s),
                    "sustained_events_per_s": round(len(phase) / finished_s),
                    "alerts": len(latencies),
                    "latency_s": {
                        "p50": round(statistics.median(latencies), 2),
                        "p90": round(percentile(latencies, 0.90), 2),
                        "p99": round(percentile(latencies, 0.99), 2),
                        "max": round(max(latencies), 2),
                    }
                    if latencies
                    else None,
                }
            )
            offset += len(phase)
    finally:
        watcher.stop.set()
        stop_job(master, job_name, launcher)
        launcher_log.close()
        for future in admin.delete_topics(list(topics.values())).values():
            future.result()
    report["max_bundle_time_mills"] = args.max_bundle_time_mills or LIVE_MAX_BUNDLE_TIME_MS
    report["hot_store_share"] = round(hot_share(lines), 3)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
