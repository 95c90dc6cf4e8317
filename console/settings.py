"""Where the console connects, from the environment only: a DSN may hold a password."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pipelines.cli import CommandError

DSN_VARIABLE = "STREAMFLOW_CONSOLE_PG_DSN"
KAFKA_VARIABLE = "STREAMFLOW_KAFKA_BOOTSTRAP"
MODEL_VARIABLE = "STREAMFLOW_CONSOLE_MODEL"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 58090
FEEDBACK_TOPIC = "fraud.feedback"


@dataclass(frozen=True, slots=True)
class Settings:
    dsn: str
    kafka_bootstrap: str | None = None
    feedback_topic: str = FEEDBACK_TOPIC
    # A model folder the console explains alerts with on demand (console/reasons.py).
    model: str | None = None


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
    return Settings(dsn=dsn, kafka_bootstrap=bootstrap, feedback_topic=topic, model=model)
