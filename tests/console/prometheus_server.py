"""A real Prometheus for the /monitoring tests, with known data: its TSDB is backfilled by
``promtool tsdb create-blocks-from openmetrics`` with the last two hours of every series the
dashboards read (the recording rules' outputs, Flink's job metrics, the console's /metrics), as
a live job on a developer's cluster would leave them. Debian's prometheus package, which
``scripts/prometheus.sh install`` installs; the server runs on a free port in a directory of
its own and is stopped by its pid."""

from __future__ import annotations

import math
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.console.browser import free_port
from tests.services import service_script

JOB = 'job_name="streamflow_fraud"'
SPAN_S = 2 * 3600
RESTARTED_S = 3000  # before the end: one restart in the last hour
STEP_S = 15
# At the end of the span: the fraud dashboard's stats (80% precision, 17 open, 4 escalated).
DECIDED = {"fraud": 120, "legitimate": 30}
OPEN, ESCALATED = 17, 4
# The pipeline's rule ids (FR-006 is the model's), as the alerts_rule_<rule> counters name them.
RULES = ("fr_001", "fr_002", "fr_003", "fr_004", "fr_005", "fr_006", "fr_007", "fr_008")

Value = Callable[[float], float]


def demo_series(end: float) -> dict[str, dict[str, Value]]:
    """Family -> labels -> value at a unix time: a day in the life of the live job."""

    def wave(base: float, amplitude: float, period: float, phase: float = 0) -> Value:
        return lambda t: base + amplitude * math.sin(t / period + phase)

    def ramp(final: float) -> Value:
        return lambda t: round(final * (1 - 0.4 * (end - t) / SPAN_S))

    read = wave(210, 35, 600)
    return {
        "streamflow:read:rate1m": {JOB: read},
        "streamflow:scored:rate5m": {JOB: lambda t: read(t) * 0.985},
        "streamflow:alert_latency_seconds:p50_5m": {JOB: wave(0.42, 0.08, 420)},
        "streamflow:alert_latency_seconds:p99_5m": {JOB: wave(2.1, 0.9, 300, 1)},
        "streamflow:event_time_lag_seconds:max": {JOB: wave(1.6, 0.6, 200)},
        "streamflow:consumer_lag:sum": {
            f'consumergroup="streamflow-fraud",topic="{topic}"': (
                lambda t, scale=scale: scale * (1 + (t % 60) / 60)
            )
            for topic, scale in (("transactions.raw", 900), ("fraud.feedback", 3))
        },
        "flink_jobmanager_job_lastCheckpointDuration": {JOB: wave(850, 250, 500)},
        "flink_jobmanager_job_numberOfFailedCheckpoints": {
            JOB: lambda t: 2 if end - t < 1500 else 1 if end - t < RESTARTED_S else 0
        },
        "flink_jobmanager_job_numRestarts": {JOB: lambda t: 1 if end - t < RESTARTED_S else 0},
        # restarted once, from its checkpoint
        "streamflow:job_uptime_seconds:max": {
            JOB: lambda t: t - (end - RESTARTED_S if end - t < RESTARTED_S else end - SPAN_S - 600)
        },
        "streamflow:dead_letters_by_type:rate5m": {
            f'{JOB},error_type="{kind}"': wave(base, base / 2, period)
            for kind, base, period in (
                ("INVALID_JSON", 0.8, 700),
                ("MISSING_FIELD", 0.4, 500),
                ("INVALID_FIELD", 0.25, 900),
            )
        },
        "streamflow:control_dead_letters_by_type:rate5m": {
            f'{JOB},error_type="{kind}"': wave(base, base / 2, period)
            for kind, base, period in (("INVALID_JSON", 0.02, 800), ("INVALID_FIELD", 0.01, 400))
        },
        "streamflow:dead_letters:ratio_rate5m": {JOB: wave(0.007, 0.002, 700)},
        "streamflow_warehouse_newest_seconds": {
            f'table="{table}"': (lambda t, lag=lag: t - lag - (t % 30))
            for table, lag in (
                ("silver.clean_transactions", 2),
                ("bronze.fraud_alerts", 20),
                ("silver.store_minute_metrics", 50),
            )
        },
        "streamflow:alerts:rate5m": {JOB: wave(0.9, 0.2, 900)},
        "streamflow:alerts_by_rule:rate5m": {
            f'{JOB},rule="{rule}"': wave(0.05 + 0.04 * index, 0.02, 600, index)
            for index, rule in enumerate(RULES)
        },
        "streamflow_alerts_open": {"": ramp(OPEN)},
        "streamflow_alerts_escalated": {"": ramp(ESCALATED)},
        "streamflow_alerts_decided": {
            f'verdict="{verdict}"': ramp(final) for verdict, final in DECIDED.items()
        },
        "streamflow_feedback_unsent": {"": lambda t: 0},
    }


def openmetrics(series: dict[str, dict[str, Value]], end: float) -> str:
    lines = []
    start = int(end - SPAN_S)
    for family, by_labels in series.items():
        lines.append(f"# TYPE {family} gauge")
        for labels, value in by_labels.items():
            selector = f"{{{labels}}}" if labels else ""
            for at in range(start, int(end) - 5, STEP_S):
                lines.append(f"{family}{selector} {value(at)!r} {at}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@contextmanager
def backfilled_prometheus(directory: Path) -> Iterator[str]:
    """A Prometheus on a free local port with :func:`demo_series` up to now; its base URL."""
    service_script("prometheus", "install", timeout=900)
    promtool, prometheus = shutil.which("promtool"), shutil.which("prometheus")
    assert promtool, "scripts/prometheus.sh install left no promtool"
    assert prometheus, "scripts/prometheus.sh install left no prometheus"
    end = time.time()
    source = directory / "series.om"
    source.write_text(openmetrics(demo_series(end), end))
    data = directory / "data"
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    config = directory / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n")  # scrapes nothing: the data is all
    port = free_port()
    with (directory / "prometheus.log").open("w") as log:
        server = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, server, directory / "prometheus.log")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)


def _wait_ready(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"Prometheus exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"Prometheus did not become ready: {log.read_text()[-2000:]}")
