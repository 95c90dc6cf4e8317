"""StreamFlow's Airflow notifier: every notification is logged, stored in the warehouse's
``silver.ops_events`` and, when the ``streamflow_webhook`` connection exists, posted to it as
JSON.

One class serves task and DAG callbacks (``on_failure_callback=StreamFlowNotifier(...)``), the
DAGs' own alerts (the DLQ monitor calls :func:`send` from its task) and Deadline Alerts (an
``AsyncCallback`` runs :func:`deadline_missed` in the triggerer). This module lives in the
plugins folder, which Airflow puts on the import path of every component, the triggerer's
included.

The webhook is an HTTP connection, read as Airflow's HTTP provider reads one (``HttpHook``): a
host with a scheme is the whole base URL; otherwise ``schema`` is the scheme (``http`` or
``https``, default ``http``) and ``port`` follows the host name; ``login``/``password`` are
basic auth; the ``extra`` JSON holds headers, plus an ``endpoint`` appended to the base URL (the
path an ``HttpOperator`` would be given). For example
``AIRFLOW_CONN_STREAMFLOW_WEBHOOK='{"conn_type": "http", "host": "https://hooks.example.com/..."}'``
or ``{"conn_type": "http", "schema": "https", "host": "hooks.example.com", "extra":
{"endpoint": "services/T0/B0", "X-Token": "..."}}`` (a webhook URL is a secret: connections,
never code).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.sdk import AsyncCallback, BaseHook, BaseNotifier, DeadlineAlert, DeadlineReference
from airflow.sdk.exceptions import AirflowNotFoundException

WAREHOUSE_CONNECTION = "streamflow_warehouse"
WEBHOOK_CONNECTION = "streamflow_webhook"
SEVERITIES = ("info", "warning", "error")
WEBHOOK_TIMEOUT_S = 10.0
# Extras HttpHook takes as request settings, not headers; "endpoint" is this notifier's path.
REQUEST_SETTINGS = frozenset(
    {
        "allow_redirects",
        "cert",
        "check_response",
        "max_redirects",
        "proxies",
        "proxy",
        "srv",
        "stream",
        "timeout",
        "trust_env",
        "verify",
        "verify_ssl",
    }
)

log = logging.getLogger(__name__)


def send(
    kind: str,
    severity: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
) -> dict[str, Any]:
    """Log, store and post one event; returns it as posted."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity!r} is not one of {SEVERITIES}")
    event = {
        "kind": kind,
        "severity": severity,
        "message": message,
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "details": dict(details or {}),
    }
    log.log(
        logging.ERROR
        if severity == "error"
        else logging.WARNING
        if severity == "warning"
        else logging.INFO,
        "StreamFlow %s: %s %s",
        kind,
        message,
        json.dumps(event["details"], default=str),
    )
    # Each sink on its own: a task often fails because the warehouse is down, and its
    # notification must still reach the webhook.
    failures = []
    try:
        PostgresHook(postgres_conn_id=WAREHOUSE_CONNECTION).run(
            "INSERT INTO silver.ops_events (kind, severity, dag_id, run_id, task_id, message, "
            "details) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb)",
            parameters=(
                kind,
                severity,
                dag_id,
                run_id,
                task_id,
                message,
                json.dumps(event["details"], default=str),
            ),
        )
    except Exception as error:  # any driver or connection error: try the webhook anyway
        log.exception("StreamFlow %s: could not store the event", kind)
        failures.append(error)
    try:
        target = webhook()
        if target is not None:
            request = urllib.request.Request(
                target.url,
                data=json.dumps(event, default=str).encode(),
                headers={**target.headers, "Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=target.timeout_s) as response:
                response.read()
    except (OSError, ValueError) as error:  # unreachable, refused, or a malformed connection
        log.exception("StreamFlow %s: could not post the event", kind)
        failures.append(error)
    if failures:
        raise failures[0]
    return event


@dataclass(frozen=True)
class Webhook:
    url: str
    headers: dict[str, str]
    timeout_s: float


def webhook() -> Webhook | None:
    """Where and how to post, from the ``streamflow_webhook`` connection; ``None`` without one."""
    try:
        connection = BaseHook.get_connection(WEBHOOK_CONNECTION)
    except AirflowNotFoundException:
        return None
    extra = dict(connection.extra_dejson)
    endpoint = str(extra.get("endpoint") or "")
    timeout_s = float(extra.get("timeout") or WEBHOOK_TIMEOUT_S)
    headers = {
        str(name): str(value)
        for name, value in extra.items()
        if name not in REQUEST_SETTINGS and name != "endpoint"
    }
    if connection.login:
        credentials = f"{connection.login}:{connection.password or ''}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(credentials).decode()}"
    base = base_url(connection.host, connection.schema, connection.port)
    return Webhook(url_from_endpoint(base, endpoint), headers, timeout_s)


def base_url(host: str | None, schema: str | None, port: int | None) -> str:
    """HttpHook's base URL: a host with a scheme as it is; otherwise ``schema://host:port``.
    Unlike HttpHook, a path in a host without a scheme goes after the port, not before it."""
    if not host:
        raise ValueError(f"the {WEBHOOK_CONNECTION} connection has no host")
    if "://" in host:
        return host
    scheme = schema or "http"
    if scheme not in ("http", "https"):
        # An Airflow connection URI's path is its schema: http://host/path gives "path". Not
        # echoed: a webhook's path is often its secret.
        raise ValueError(
            f"the {WEBHOOK_CONNECTION} connection's schema must be the URL scheme (http or "
            "https): put a path in the host or in the 'endpoint' extra"
        )
    name, slash, path = host.partition("/")
    return f"{scheme}://{name}{f':{port}' if port else ''}{slash}{path}"


def url_from_endpoint(base: str, endpoint: str) -> str:
    """Joins as HttpHook joins: one slash between the base URL and the endpoint."""
    if base and endpoint and not base.endswith("/") and not endpoint.startswith("/"):
        return f"{base}/{endpoint}"
    return base + endpoint


class StreamFlowNotifier(BaseNotifier):
    """A task or DAG callback: ``on_failure_callback=StreamFlowNotifier("task_failed")``."""

    template_fields = ("message",)

    def __init__(self, kind: str, severity: str = "error", message: str = "") -> None:
        super().__init__()
        self.kind = kind
        self.severity = severity
        self.message = message

    def notify(self, context: Any) -> None:
        task_instance = context.get("ti") or context.get("task_instance")
        dag = context.get("dag")
        run = context.get("dag_run")
        exception = context.get("exception")
        details: dict[str, Any] = {}
        if exception is not None:
            details["exception"] = f"{type(exception).__name__}: {exception}"[:2000]
        if task_instance is not None:
            details["try_number"] = getattr(task_instance, "try_number", None)
            details["map_index"] = getattr(task_instance, "map_index", None)
        dag_id = getattr(dag, "dag_id", None) or getattr(task_instance, "dag_id", None)
        task_id = getattr(task_instance, "task_id", None)
        default = f"{dag_id}{'.' + task_id if task_id else ''}: {self.kind}"
        send(
            self.kind,
            self.severity,
            self.message or default,
            details,
            dag_id=dag_id,
            run_id=getattr(run, "run_id", None) or getattr(task_instance, "run_id", None),
            task_id=task_id,
        )


def alert_when_late(dag_id: str, interval: Any, described: str) -> DeadlineAlert:
    """A DAG's Deadline Alert: a run not finished ``interval`` (a ``timedelta``, or a
    ``VariableInterval``) after it was queued sends a ``deadline_missed`` event."""
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=AsyncCallback(deadline_missed, kwargs={"dag_id": dag_id, "deadline": described}),
    )


async def deadline_missed(dag_id: str, deadline: str, **_: Any) -> None:
    """A Deadline Alert's callback (runs in the triggerer): the run is late."""
    await asyncio.to_thread(
        send,
        "deadline_missed",
        "warning",
        f"{dag_id}: a run did not finish within {deadline}",
        {"deadline": deadline},
        dag_id=dag_id,
    )
