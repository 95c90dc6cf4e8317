"""Throughput of the fraud pipeline on the local Flink cluster versus FnApiRunner.

    scripts/flink.sh start
    python benchmarks/flink_throughput.py [--events 100000] [--configs direct,flink-p1,...]

One seeded data set, then ``pipelines.fraud.run`` (rules and the anomaly model, JSONL sinks) on:

* ``direct``: FnApiRunner, in process;
* ``flink-p1`` / ``flink-p2``: the standalone cluster, batch, parallelism 1 / 2, Python
  workers in this process (LOOPBACK, the local default);
* ``flink-p2-pool``: parallelism 2 with the Python workers in separate processes started by
  Beam's worker pool (``--environment_type=EXTERNAL``), the production layout of k8s/;
* ``flink-streaming``: parallelism 1, ``--streaming`` with exactly-once checkpoints, for the
  time to first output.

For Flink runs, ``wall`` includes starting the job server and uploading its jars; ``job`` is
the job's own duration as Flink reports it (REST API). Events per second are given for both.
``first_output_s`` is the time from submission until the stateful scoring stage has emitted
its first record (polled from Flink's metrics every 0.25 s). Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
EVENTS_PER_CUSTOMER = 27
CONFIGS = ("direct", "flink-p1", "flink-p2", "flink-p2-pool", "flink-streaming")
SCORING_STAGE = "ScoreAnomalies"


def _master() -> str:
    script = REPO / "scripts" / "flink.sh"
    return subprocess.run(
        [script, "master"], check=True, capture_output=True, text=True
    ).stdout.strip()


def _get(master: str, path: str) -> Any:
    with urllib.request.urlopen(f"http://{master}{path}", timeout=10) as response:
        return json.load(response)


def _job_id(master: str, job_name: str) -> str | None:
    for job in _get(master, "/jobs/overview")["jobs"]:
        if job_name in job["name"]:
            return str(job["jid"])
    return None


class FirstOutputWatch(threading.Thread):
    """Polls Flink until the scoring stage of ``job_name`` has emitted a record."""

    def __init__(self, master: str, job_name: str) -> None:
        super().__init__(daemon=True)
        self.master, self.job_name = master, job_name
        self.started = time.perf_counter()
        self.seconds: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.25) and self.seconds is None:
            try:
                self.seconds = self._poll()
            except OSError:
                continue

    def _poll(self) -> float | None:
        jid = _job_id(self.master, self.job_name)
        if jid is None:
            return None
        for vertex in _get(self.master, f"/jobs/{jid}")["vertices"]:
            if SCORING_STAGE not in vertex["name"]:
                continue
            metrics = _get(
                self.master,
                f"/jobs/{jid}/vertices/{vertex['id']}/subtasks/metrics?get=numRecordsOut&agg=sum",
            )
            if metrics and metrics[0].get("sum", 0) > 0:
                return time.perf_counter() - self.started
        return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return int(probe.getsockname()[1])


def _worker_pool() -> tuple[subprocess.Popen[bytes], str]:
    """Beam's SDK worker pool, one Python process per worker, with this interpreter."""
    port = _free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    pool = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apache_beam.runners.worker.worker_pool_main",
            f"--service_port={port}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(3)
    return pool, f"localhost:{port}"


def measure(config: str, paths: dict[str, str], master: str) -> dict[str, Any]:
    from pipelines.fraud import run

    job_name = f"bench-{config}-{uuid.uuid4().hex[:6]}"
    args = [
        f"--input={paths['events']}",
        f"--blacklist={paths['blacklist']}",
        f"--model={paths['model']}",
        f"--job_name={job_name}",
    ]
    flink = ["--runner=FlinkRunner", f"--flink_master={master}"]
    pool = None
    if config == "direct":
        args.append("--runner=FnApiRunner")
    elif config == "flink-p1":
        args += [*flink, "--parallelism=1"]
    elif config == "flink-p2":
        args += [*flink, "--parallelism=2"]
    elif config == "flink-p2-pool":
        pool, address = _worker_pool()
        args += [*flink, "--parallelism=2", "--environment_type=EXTERNAL"]
        args.append(f"--environment_config={address}")
    else:
        args += [*flink, "--parallelism=1", "--streaming"]
    watch = FirstOutputWatch(master, job_name) if config.startswith("flink") else None
    try:
        with tempfile.TemporaryDirectory() as out:
            if watch:
                watch.start()
            started = time.perf_counter()
            summary = run([*args, f"--output_dir={out}"])
            wall = time.perf_counter() - started
    finally:
        if watch:
            watch.stop.set()
        if pool:
            pool.terminate()
    result: dict[str, Any] = {
        "events": summary["read"],
        "wall_s": round(wall, 1),
        "events_per_s_wall": round(summary["read"] / wall),
        "conservation_ok": summary.get("conservation_ok"),
    }
    if watch:
        jid = _job_id(master, job_name)
        job_seconds = _get(master, f"/jobs/{jid}")["duration"] / 1000 if jid else None
        if job_seconds:
            result["job_s"] = round(job_seconds, 1)
            result["events_per_s_job"] = round(summary["read"] / job_seconds)
        result["first_output_s"] = round(watch.seconds, 1) if watch.seconds else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    args = parser.parse_args()
    from ml.train import train_model
    from pipelines.synthetic import generate_dataset

    master = _master()
    with tempfile.TemporaryDirectory() as data:
        dataset = generate_dataset(data, customers=max(1, args.events // EVENTS_PER_CUSTOMER))
        model = os.path.join(data, "model")
        train_model(model, seed=7)
        paths = {"events": dataset.events, "blacklist": dataset.blacklist, "model": model}
        results = {name: measure(name, paths, master) for name in args.configs.split(",")}
    print(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
