"""The job-down alert, end to end: the local Prometheus (scripts/prometheus.sh) scrapes the local
Flink cluster while a live job runs, a TaskManager is killed with ``kill -9`` as in the fault
drills (tests/kafka/test_drills.py), StreamFlowJobDown fires, and it resolves once a new
TaskManager runs the job again.

The PrometheusRule waits 5 minutes before StreamFlowJobDown fires; the local copy of the rules
this test loads caps every ``for:`` at 10 s (scripts/prometheus_rules.py --max-for), and the
production durations are loaded again afterwards. The job restarts as in production, with an
exponential back-off (k8s/base/flinkdeployment.yaml), capped at 10 s here: the local cluster's
two attempts (scripts/flink/config.yaml) would fail it for good before the TaskManager is back.
The kill would fail any other job on the cluster too: the test waits until none runs.

With ``STREAMFLOW_TEST_METRICS_DUMP=FILE``, the job's series as Prometheus holds them while the
job runs, while it is down and after it recovered (names, one sample's labels, value) are
written to FILE as JSON: a record of what Flink exposes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("confluent_kafka")

from pipelines import produce
from pipelines.synthetic import generate_dataset
from tests.flink.rest import flink_get
from tests.kafka.live import Topics, live_job, wait_until
from tests.monitoring import local_prometheus
from tests.monitoring.local_prometheus import alert_state, query
from tests.services import service_script

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.flink,
    pytest.mark.kafka,
    pytest.mark.chaos,
    pytest.mark.slow,
]

ALERT = "StreamFlowJobDown"
MAX_FOR = "10s"
RATE = 20  # events per second: the ~1,000 events last the whole test
DUMP_VARIABLE = "STREAMFLOW_TEST_METRICS_DUMP"


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    """The local Prometheus, its alerts' ``for:`` capped at 10 s for this module."""
    url = local_prometheus.start(max_for=MAX_FOR)
    yield url
    local_prometheus.start()


def _restarting_conf_dir(folder: Path) -> Path:
    """The local cluster's configuration for the job (the launcher hands it to the job server,
    --flink_conf_dir), restarting with production's back-off, capped at 10 s."""
    config = yaml.safe_load(Path(service_script("flink", "conf-dir"), "config.yaml").read_text())
    config["restart-strategy"] = {
        "type": "exponential-delay",
        "exponential-delay": {
            "initial-backoff": "1s",
            "max-backoff": "10s",
            "backoff-multiplier": 2.0,
            "reset-backoff-threshold": "1h",
            "jitter-factor": 0.1,
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def _others_running(master: str, job_name: str) -> list[str]:
    jobs = flink_get(master, "/jobs/overview")["jobs"]
    return [j["name"] for j in jobs if j["state"] == "RUNNING" and job_name not in j["name"]]


def _series(url: str, label: str) -> dict[str, Any]:
    """The job's series (and the JobManager's job counts), by name: how many, one's labels and
    value."""
    found: dict[str, Any] = {}
    for expr in (
        f'{{job_name="{label}"}}',
        '{__name__=~"flink_jobmanager_(numRunningJobs|numRegisteredTaskManagers|taskSlots.*)"}',
    ):
        for sample in query(url, expr):
            labels = dict(sample["metric"])
            name = labels.pop("__name__")
            entry = found.setdefault(name, {"series": 0, "labels": labels})
            entry["series"] += 1
            entry.setdefault("value", sample["value"][1])
    return found


def test_a_killed_taskmanager_fires_job_down_until_a_new_one_runs_the_job(
    prometheus: str,
    flink_master: str,
    bootstrap_servers: str,
    topics: Topics,
    tmp_path: Path,
) -> None:
    data = generate_dataset(str(tmp_path / "data"), seed=29, customers=120, days=10)
    job_name = f"streamflow-alerting-{uuid.uuid4().hex[:8]}"
    # As Flink's reporter writes it: every character but [A-Za-z0-9:_] as "_".
    label = re.sub(r"[^A-Za-z0-9:_]", "_", job_name)
    args = [f"--kafka_bootstrap_servers={bootstrap_servers}", *topics.options()]
    args += [f"--blacklist={data.blacklist}", "--no_model", f"--kafka_consumer_group={job_name}"]
    args += [f"--output_dir={tmp_path / 'live'}"]
    args += [f"--flink_conf_dir={_restarting_conf_dir(tmp_path / 'conf')}"]
    dump: dict[str, Any] = {"job_name": label}
    states: list[tuple[float, str | None]] = []

    def job_down() -> str | None:
        state = alert_state(prometheus, ALERT, job_name=label)
        if not states or states[-1][1] != state:
            states.append((round(time.monotonic() - started, 1), state))
        return state

    started = time.monotonic()
    with live_job(flink_master, job_name, args, tmp_path / "logs"):
        to_topic = [f"--bootstrap_servers={bootstrap_servers}", f"--topic={topics.input}"]
        producing = threading.Thread(
            target=produce.main,
            args=([*to_topic, f"--input={data.events}", f"--rate={RATE}"],),
            daemon=True,
        )
        producing.start()
        # Prometheus sees the job running: the JobManager's uptime, its tasks on a
        # TaskManager, and the events it reads (the recording rules on Flink's real names).
        running = f'streamflow:job_tasks:count{{job_name="{label}"}} > 0'
        running += f' and on (job_name) streamflow:job_uptime_seconds:max{{job_name="{label}"}} > 0'
        assert wait_until(lambda: bool(query(prometheus, running)), 180), "never seen running"
        reading = f'streamflow:read:rate1m{{job_name="{label}"}} > 0'
        assert wait_until(lambda: bool(query(prometheus, reading)), 180), "never seen reading"
        assert wait_until(lambda: job_down() is None, 60), states
        dump["running"] = _series(prometheus, label)
        assert wait_until(lambda: not _others_running(flink_master, job_name), 600), (
            f"other jobs run on the cluster: {_others_running(flink_master, job_name)}"
        )

        (pid,) = [int(pid) for pid in service_script("flink", "taskmanager-pids").split()]
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        try:
            assert wait_until(lambda: job_down() == "firing", 120), states
            fired_after = time.monotonic() - killed
            dump["down"] = _series(prometheus, label)
        finally:
            # The cluster is left as it was found: one TaskManager.
            service_script("flink", "taskmanager-start", timeout=120)
        restarted = time.monotonic()
        assert wait_until(lambda: job_down() is None, 300), states
        resolved_after = time.monotonic() - restarted
        # Flink restarted the job from its last checkpoint, and Prometheus saw it.
        restarts = query(prometheus, f'flink_jobmanager_job_numRestarts{{job_name="{label}"}}')
        assert restarts
        assert float(restarts[0]["value"][1]) >= 1
        assert query(prometheus, running), "recovered, but its tasks are not seen running"
        dump["recovered"] = _series(prometheus, label)
        producing.join(timeout=120)
    assert "pending" in [state for _, state in states], states
    assert len(service_script("flink", "taskmanager-pids").split()) == 1
    dump["alert_states"] = states
    if os.environ.get(DUMP_VARIABLE):
        Path(os.environ[DUMP_VARIABLE]).write_text(json.dumps(dump, indent=1, sort_keys=True))
    print(
        f"{ALERT}: firing {fired_after:.0f} s after the kill, resolved {resolved_after:.0f} s"
        f" after a TaskManager started again; states {states}"
    )
