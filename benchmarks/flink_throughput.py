"""Throughput of the fraud pipeline on the local Flink cluster versus FnApiRunner.

    scripts/flink.sh start
    python benchmarks/flink_throughput.py [--events 100000] [--configs direct,flink-p1,...]
        [--scoring rules,model] [--profile]

One seeded data set (about 27 events per customer), then ``pipelines.fraud.run`` with JSONL
sinks, rules only (``--no_model``) and with the anomaly model, on:

* ``direct``: FnApiRunner, in process (bounded: the grouped detector path);
* ``flink-p1`` / ``flink-p2``: the standalone cluster, batch, parallelism 1 / 2, with the
  launcher's local default (LOOPBACK: the Python worker in this process at parallelism 1, one
  worker process per slot above it);
* ``flink-p2-shared``: parallelism 2 with both slots' bundles in one Python worker in this
  process (``--sdk_worker_parallelism=1``, the default before 2026-12-05: one interpreter lock);
* ``flink-streaming-p1`` / ``flink-streaming-p2``: ``--streaming`` (the stateful detector path)
  with exactly-once checkpoints every 5 s (scripts/flink/config.yaml).

Flink runs report ``job_s``, the job's own duration as Flink reports it (REST API; ``wall_s``
adds starting the job server and uploading its jars). Streaming runs also report, from the
cluster's Prometheus endpoint polled every 0.5 s, when the detector received its first and
last event and when the scoring stage emitted its first and last record:
``sustained_events_per_s`` is events over first-in to last-out, ``first_output_s`` counts from
the job's start. File input has no watermark until it is read whole, so a file-fed streaming
job scores nothing before the end of the file: its first output measures the read, not
latency.

``--profile`` samples this process and its children (where LOOPBACK runs the Python workers:
in it at parallelism 1, in worker processes it starts above) with py-spy
(``pip install py-spy``; not a project dependency) during each Flink run and prints where the
SDK harness spent its time per event, next to Flink's busy/idle split of the scoring task.
Prints one JSON document. Numbers drift with machine load; compare medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
EVENTS_PER_CUSTOMER = 27
CONFIGS = (
    "direct",
    "flink-p1",
    "flink-p2",
    "flink-p2-shared",
    "flink-streaming-p1",
    "flink-streaming-p2",
)
SCORING = ("rules", "model")
DETECTOR_TASK = "DetectFraud"
SCORING_TASK = "ScoreAnomalies"
_METRIC = re.compile(
    r"^flink_taskmanager_job_task_(?P<metric>numRecordsIn|numRecordsOut|busyTimeMsPerSecond|"
    r"idleTimeMsPerSecond|backPressuredTimeMsPerSecond)\{(?P<labels>.*)\} (?P<value>\S+)$"
)
# Where a sampled harness stack is, by the first matching frame (most specific first).
_PROFILE_BUCKETS = (
    ("state commit (waiting for the runner)", ("state_commit.py", "commit (apache_beam")),
    ("state reads (cache misses)", ("get_raw", "blocking_get")),
    ("anomaly model", ("(ml/", "/ml/")),
    (
        "rules and history",
        (
            "transforms/domain/detector",
            "transforms/domain/rules",
            "transforms/domain/features",
            "transforms/domain/state",
            "transforms/customer_scoring",
        ),
    ),
    ("parsing", ("transforms/parse", "transforms/domain/events", "transforms/read")),
    (
        "records and JSON output",
        (
            "transforms/domain/outputs",
            "json/",
            "fileio",
            "sinks",
            "textio",
            "transforms/summary",
            "transforms/alerts",
        ),
    ),
    ("detector bookkeeping", ("transforms/detect", "transforms/coders")),
)


def _flink_script(command: str) -> str:
    script = REPO / "scripts" / "flink.sh"
    return subprocess.run(
        [script, command], check=True, capture_output=True, text=True
    ).stdout.strip()


def _get(master: str, path: str) -> Any:
    with urllib.request.urlopen(f"http://{master}{path}", timeout=10) as response:
        return json.load(response)


def _job(master: str, job_name: str) -> dict[str, Any] | None:
    for job in _get(master, "/jobs/overview")["jobs"]:
        if job_name in job["name"]:
            return dict(job)
    return None


class TaskWatch(threading.Thread):
    """Polls the TaskManager's Prometheus text for the job's detector and scoring tasks."""

    def __init__(self, urls: list[str], job_name: str) -> None:
        super().__init__(daemon=True)
        self.urls = urls
        self.label = re.sub(r"[^A-Za-z0-9:_]", "_", job_name)
        self.first_in: float | None = None
        self.last_in_change: float | None = None
        self.first_out: float | None = None
        self.last_out_change: float | None = None
        self.busy: list[float] = []
        self.idle: list[float] = []
        self.back_pressured: list[float] = []
        self._seen_in = self._seen_out = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            now = time.time()
            for url in self.urls:
                try:
                    with urllib.request.urlopen(url, timeout=3) as response:
                        self._read(response.read().decode("utf-8"), now)
                except OSError:
                    continue

    def _read(self, text: str, now: float) -> None:
        records_in = records_out = 0.0
        for line in text.splitlines():
            match = _METRIC.match(line)
            if not match or f'job_name="{self.label}"' not in match.group("labels"):
                continue
            task = re.search(r'task_name="([^"]*)"', match.group("labels"))
            name, value = (task.group(1) if task else ""), float(match.group("value"))
            metric = match.group("metric")
            if DETECTOR_TASK in name and metric == "numRecordsIn":
                records_in += value
            if SCORING_TASK in name and metric == "numRecordsOut":
                records_out += value
            if SCORING_TASK in name and value == value:  # NaN while a task is starting
                if metric == "busyTimeMsPerSecond":
                    self.busy.append(value)
                elif metric == "idleTimeMsPerSecond":
                    self.idle.append(value)
                elif metric == "backPressuredTimeMsPerSecond":
                    self.back_pressured.append(value)
        if records_in > self._seen_in:
            self.first_in = self.first_in or now
            self.last_in_change, self._seen_in = now, records_in
        if records_out > self._seen_out:
            self.first_out = self.first_out or now
            self.last_out_change, self._seen_out = now, records_out


class Sampler:
    """py-spy on this process and its worker processes for the length of one run."""

    def __init__(self, seconds: int, out: str) -> None:
        self.out = out
        self.process = subprocess.Popen(
            [
                "py-spy",
                "record",
                "-p",
                str(os.getpid()),
                "-d",
                str(seconds),
                "-r",
                "100",
                "-f",
                "raw",
                "-o",
                out,
                "--nonblocking",
                "--threads",
                # Worker processes (parallelism 2: pipelines/flink.py) are this one's children.
                "--subprocesses",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def breakdown(self, events: int) -> dict[str, Any]:
        self.process.send_signal(signal.SIGINT)  # py-spy writes its samples on Ctrl-C
        self.process.wait(timeout=60)
        buckets: Counter[str] = Counter()
        for line in Path(self.out).read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if "process_bundle" not in stack:
                continue  # gRPC, progress and control threads
            frames = stack.split(";")
            bucket = "Beam harness (data plane, coders, dispatch)"
            for name, markers in _PROFILE_BUCKETS:
                if any(marker in frame for frame in frames for marker in markers):
                    bucket = name
                    break
            buckets[bucket] += int(count)
        # 100 samples per second: one sample is 10 ms of the harness thread.
        return {
            name: {"seconds": round(n / 100, 1), "us_per_event": round(n / 100 / events * 1e6)}
            for name, n in buckets.most_common()
        }


def _args(config: str, scoring: str, paths: dict[str, str], master: str, job: str) -> list[str]:
    args = [
        f"--input={paths['events']}",
        f"--blacklist={paths['blacklist']}",
        f"--job_name={job}",
        f"--model={paths['model']}" if scoring == "model" else "--no_model",
    ]
    if config == "direct":
        return [*args, "--runner=FnApiRunner"]
    args += ["--runner=FlinkRunner", f"--flink_master={master}"]
    if config.startswith("flink-streaming"):
        args.append("--streaming")
    args.append(f"--parallelism={2 if config.endswith('p2') or 'p2-' in config else 1}")
    if config == "flink-p2-shared":
        args.append("--sdk_worker_parallelism=1")
    return args


def measure(
    config: str, scoring: str, paths: dict[str, str], master: str, profile: bool
) -> dict[str, Any]:
    from pipelines.fraud import run

    job_name = f"bench-{config}-{scoring}-{uuid.uuid4().hex[:6]}"
    args = _args(config, scoring, paths, master, job_name)
    flink = config != "direct"
    streaming = config.startswith("flink-streaming")
    watch = TaskWatch(_flink_script("metrics-urls").split(), job_name) if streaming else None
    sampler = None
    with tempfile.TemporaryDirectory() as out:
        if watch:
            watch.start()
        if profile and flink and shutil.which("py-spy"):
            sampler = Sampler(900, os.path.join(out, "profile.raw"))
        started = time.perf_counter()
        summary = run([*args, f"--output_dir={out}"])
        wall = time.perf_counter() - started
        if watch:
            watch.stop.set()
        read = summary["read"]
        breakdown = sampler.breakdown(read) if sampler else None
    result: dict[str, Any] = {
        "events": read,
        "detector": summary["detector"],
        "wall_s": round(wall, 1),
        "events_per_s_wall": round(read / wall),
        "conservation_ok": summary.get("conservation_ok"),
    }
    if flink:
        job = _job(master, job_name) or {}
        if job.get("duration"):
            result["job_s"] = round(job["duration"] / 1000, 1)
            result["events_per_s_job"] = round(read / (job["duration"] / 1000))
        if watch and watch.first_in and watch.last_out_change and job.get("start-time"):
            job_start = job["start-time"] / 1000
            result["first_output_s"] = round((watch.first_out or 0) - job_start, 1)
            result["sustained_events_per_s"] = round(
                read / max(0.5, watch.last_out_change - watch.first_in)
            )
            result["scoring_task_ms_per_s"] = {
                "busy": _mean(watch.busy),
                "idle": _mean(watch.idle),
                "back_pressured": _mean(watch.back_pressured),
            }
    if breakdown:
        result["python_harness_profile"] = breakdown
    return result


def _mean(values: list[float]) -> int | None:
    return round(sum(values) / len(values)) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--scoring", default=",".join(SCORING))
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--hot_store_share",
        type=float,
        default=0.0,
        help="share of the transactions moved to the busiest store (a hot key; 0: none)",
    )
    args = parser.parse_args()
    from benchmarks.hot_store import concentrate_file, hot_share
    from pipelines.synthetic import generate_dataset
    from pipelines.train_default import train_model

    # Beam's process workers are started as `python`: the one of this environment.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    master = _flink_script("master")
    with tempfile.TemporaryDirectory() as data:
        dataset = generate_dataset(data, customers=max(1, args.events // EVENTS_PER_CUSTOMER))
        hot = hot_share(concentrate_file(dataset.events, args.hot_store_share))
        model = os.path.join(data, "model")
        train_model(model, seed=7)
        paths = {"events": dataset.events, "blacklist": dataset.blacklist, "model": model}
        results = {}
        for config in args.configs.split(","):
            for scoring in args.scoring.split(","):
                name = f"{config}/{scoring}"
                results[name] = measure(config, scoring, paths, master, args.profile)
                # Progress on stderr: a long run that fails later keeps what it measured.
                print(json.dumps({name: results[name]}), file=sys.stderr, flush=True)
    report = {"cpus": os.cpu_count(), "hot_store_share": round(hot, 3), "results": results}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
