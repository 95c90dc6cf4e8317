"""Helpers for tests of the live path: fresh topics, a live job on the local Flink cluster,
and consuming what it publishes.

A live job never finishes by itself: ``LiveJob`` starts ``python -m pipelines.fraud`` in a
subprocess (its Python workers are that process's children, LOOPBACK worker processes), finds
the Flink job by name and cancels it on exit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.flink.rest import cancel_job, running_job_id

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Topics:
    input: str
    alerts: str
    dlq: str
    feedback: str
    blacklist_changes: str
    rules: str
    metrics: str

    @property
    def names(self) -> list[str]:
        return [
            self.input,
            self.alerts,
            self.dlq,
            self.feedback,
            self.blacklist_changes,
            self.rules,
            self.metrics,
        ]

    def options(self) -> list[str]:
        return [
            f"--input_topic={self.input}",
            f"--alerts_topic={self.alerts}",
            f"--dlq_topic={self.dlq}",
            f"--feedback_topic={self.feedback}",
            f"--blacklist_changes_topic={self.blacklist_changes}",
            f"--rules_topic={self.rules}",
            f"--metrics_topic={self.metrics}",
            # The tests replay events weeks old: after a restart, or once a partition is caught
            # up, the watermark is at the wall clock and every store minute is that late.
            f"--metrics_allowed_lateness_s={REPLAY_LATENESS_S}",
        ]


# The tests replay generated events from weeks ago, stamped with their own times: with a
# retention in days, the broker's next retention pass (every 5 minutes) could delete them
# before the job reads them (the segments roll at once, their timestamps being that old).
KEEP_FOREVER = {"retention.ms": "-1"}
REPLAY_LATENESS_S = 366 * 86_400  # the most the option takes
COMPACTED = {"cleanup.policy": "compact"}


def fresh_topics(bootstrap_servers: str) -> Topics:
    """The project's topics under new names, partitioned as scripts/kafka.sh makes them, kept
    forever."""
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(
        f"it-in-{suffix}",
        f"it-alerts-{suffix}",
        f"it-dlq-{suffix}",
        f"it-feedback-{suffix}",
        f"it-blacklist-{suffix}",
        f"it-rules-{suffix}",
        f"it-metrics-{suffix}",
    )
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    partitions = {topics.input: 3, topics.alerts: 3, topics.dlq: 1, topics.feedback: 3}
    created = admin.create_topics(
        [NewTopic(name, count, 1, config=KEEP_FOREVER) for name, count in partitions.items()]
        + [
            NewTopic(name, 1, 1, config={**KEEP_FOREVER, **COMPACTED})
            for name in (topics.blacklist_changes, topics.rules)
        ]
        # compacted like scripts/kafka.sh's metrics.realtime: a consumer keeps a key's last pane
        + [NewTopic(topics.metrics, 3, 1, config={**KEEP_FOREVER, **COMPACTED})]
    )
    for future in created.values():
        future.result(timeout=30)
    return topics


def delete_topics(bootstrap_servers: str, topics: Topics) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    for future in admin.delete_topics(topics.names).values():
        future.result(timeout=30)


def publish_raw(
    bootstrap_servers: str,
    topic: str,
    values: list[bytes],
    timestamp_ms: int,
    key: bytes | None = None,
) -> None:
    """``key``: a compacted topic refuses records without one."""
    producer = Producer({"bootstrap.servers": bootstrap_servers, "enable.idempotence": True})
    for value in values:
        producer.produce(topic, key=key, value=value, timestamp=timestamp_ms)
    assert producer.flush(30) == 0


@dataclass
class Collected:
    by_topic: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def of(self, topic: str) -> list[dict[str, Any]]:
        return self.by_topic.get(topic, [])


def reader(bootstrap_servers: str, topics: list[str], purpose: str) -> Consumer:
    """A consumer of ``topics`` from their start, in a group of its own that commits nothing."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"it-{purpose}-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(topics)
    return consumer


def consume_until(
    bootstrap_servers: str,
    topics: list[str],
    done: Callable[[Collected], bool],
    timeout_s: float,
    also: Callable[[], None] | None = None,
) -> Collected:
    """Every JSON record on ``topics`` from the start, until ``done`` says so or the time is
    up; ``also`` runs between polls (a drill's next step)."""
    consumer = reader(bootstrap_servers, topics, "check")
    collected = Collected()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not done(collected):
            message = consumer.poll(1.0)
            if also is not None:
                also()
            if message is None or message.error():
                continue
            record = json.loads(message.value())
            collected.by_topic.setdefault(message.topic(), []).append(record)
    finally:
        consumer.close()
    return collected


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True


@contextmanager
def live_job(
    master: str, job_name: str, args: list[str], log_dir: Path, start_timeout_s: float = 180
) -> Iterator[str]:
    """Runs the live job; yields its Flink job id once it runs; cancels it afterwards."""
    log_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pipelines.fraud",
        "--runner=FlinkRunner",
        f"--flink_master={master}",
        "--streaming",
        f"--job_name={job_name}",
        *args,
    ]
    with (log_dir / "launcher.out").open("w") as out, (log_dir / "launcher.err").open("w") as err:
        launcher = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err, env=os.environ)
        job_id = None
        try:
            deadline = time.monotonic() + start_timeout_s
            while job_id is None:
                assert launcher.poll() is None, (log_dir / "launcher.err").read_text()[-3000:]
                assert time.monotonic() < deadline, "the live job did not start"
                time.sleep(2)
                job_id = running_job_id(master, job_name)
            yield job_id
        finally:
            stop_launcher(launcher, master, job_id)


def stop_launcher(launcher: subprocess.Popen[bytes], master: str, job_id: str | None) -> None:
    """Cancels the job and lets the launcher end by itself, so that it stops the job server it
    started (a terminated launcher would leave that JVM behind)."""
    if job_id is not None:
        cancel_job(master, job_id)
    else:
        launcher.send_signal(signal.SIGINT)  # the launcher cancels whatever it submitted
    try:
        launcher.wait(90)
    except subprocess.TimeoutExpired:
        launcher.kill()
        launcher.wait(30)


def record_times(bootstrap_servers: str, topic: str, count: int) -> dict[str, int]:
    """The Kafka time of each of the first ``count`` records of ``topic``, by the source a
    dead letter names (``kafka:<topic>:<partition>:<offset>``)."""
    consumer = reader(bootstrap_servers, [topic], "times")
    times: dict[str, int] = {}
    deadline = time.monotonic() + 60
    try:
        while len(times) < count and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            source = f"kafka:{topic}:{message.partition()}:{message.offset()}"
            times[source] = message.timestamp()[1]
    finally:
        consumer.close()
    return times
