"""Where the console connects, from the environment only: a DSN may hold a password."""

from __future__ import annotations

import os
from dataclasses import dataclass

from console.web_paths import DASHBOARDS
from pipelines.cli import CommandError

DSN_VARIABLE = "STREAMFLOW_CONSOLE_PG_DSN"
KAFKA_VARIABLE = "STREAMFLOW_KAFKA_BOOTSTRAP"
MODEL_VARIABLE = "STREAMFLOW_CONSOLE_MODEL"
# Where the console's backtests read history and write their reports (docs/console.md).
ARCHIVE_VARIABLE = "STREAMFLOW_ARCHIVE"
FEEDBACK_ARCHIVE_VARIABLE = "STREAMFLOW_FEEDBACK_ARCHIVE"
BACKTEST_DIR_VARIABLE = "STREAMFLOW_BACKTEST_DIR"
DEFAULT_BACKTEST_DIR = "out/backtests"
# Prometheus scrapes GET /metrics with this bearer token; without one the route is not served.
METRICS_TOKEN_VARIABLE = "STREAMFLOW_CONSOLE_METRICS_TOKEN"
MIN_METRICS_TOKEN = 16
# The /monitoring page draws the Grafana dashboards from these files and this Prometheus.
PROMETHEUS_VARIABLE = "STREAMFLOW_PROMETHEUS_URL"
DEFAULT_PROMETHEUS_URL = "http://127.0.0.1:59090"
DASHBOARDS_VARIABLE = "STREAMFLOW_DASHBOARDS_DIR"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 58090
FEEDBACK_TOPIC = "fraud.feedback"


@dataclass(frozen=True, slots=True)
class Settings:
    dsn: str
    kafka_bootstrap: str | None = None
    feedback_topic: str = FEEDBACK_TOPIC
    # A model folder the console explains alerts with on demand (console/reasons.py); the
    # champion's model in its backtests too.
    model: str | None = None
    # Backtests run when both archives are known (console/backtests.py).
    archive: str | None = None
    feedback_archive: str | None = None
    backtest_dir: str = DEFAULT_BACKTEST_DIR
    rules_topic: str = "reference.rules"
    metrics_token: str | None = None
    prometheus_url: str = DEFAULT_PROMETHEUS_URL
    dashboards_dir: str = str(DASHBOARDS)

    @property
    def backtests(self) -> bool:
        return bool(self.archive and self.feedback_archive)


def settings_from_environment(*, kafka: bool = False) -> Settings:
    """The console's settings; :class:`CommandError` naming the variable that is missing."""
    dsn = os.environ.get(DSN_VARIABLE)
    if not dsn:
        raise CommandError(f"set {DSN_VARIABLE} to the console role's PostgreSQL DSN")
    bootstrap = os.environ.get(KAFKA_VARIABLE) or None
    if kafka and not bootstrap:
        raise CommandError(f"set {KAFKA_VARIABLE} to the Kafka bootstrap servers")
    topic = os.environ.get("STREAMFLOW_FEEDBACK_TOPIC") or FEEDBACK_TOPIC
    model = os.environ.get(MODEL_VARIABLE) or None
    metrics_token = os.environ.get(METRICS_TOKEN_VARIABLE) or None
    if metrics_token is not None and len(metrics_token) < MIN_METRICS_TOKEN:
        raise CommandError(f"{METRICS_TOKEN_VARIABLE}: at least {MIN_METRICS_TOKEN} characters")
    return Settings(
        dsn=dsn,
        kafka_bootstrap=bootstrap,
        feedback_topic=topic,
        model=model,
        archive=os.environ.get(ARCHIVE_VARIABLE) or None,
        feedback_archive=os.environ.get(FEEDBACK_ARCHIVE_VARIABLE) or None,
        backtest_dir=os.environ.get(BACKTEST_DIR_VARIABLE) or DEFAULT_BACKTEST_DIR,
        rules_topic=os.environ.get("STREAMFLOW_RULES_TOPIC") or "reference.rules",
        metrics_token=metrics_token,
        prometheus_url=os.environ.get(PROMETHEUS_VARIABLE) or DEFAULT_PROMETHEUS_URL,
        dashboards_dir=os.environ.get(DASHBOARDS_VARIABLE) or str(DASHBOARDS),
    )
