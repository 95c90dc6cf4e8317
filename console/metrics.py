"""``GET /metrics``: the warehouse's freshness and the analysts' work, for Prometheus.

Prometheus scrapes it with a bearer token (``STREAMFLOW_CONSOLE_METRICS_TOKEN``); without a
token configured the route answers 404, as if it did not exist. Every query is a constant,
index-backed look-up: the newest row by an indexed arrival column, the case counts the triggers
of V013 keep. Every replica reports the same warehouse-wide values, so dashboards and rules
aggregate them with ``max``, never ``sum``.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Iterator

import psycopg
from fastapi import APIRouter, HTTPException, Request, Response
from psycopg import sql

from console.deps import bearer_token

router = APIRouter(include_in_schema=False)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Each table with the column that says when a row arrived (each has an index on it).
FRESHNESS = (
    ("silver", "clean_transactions", "updated_at"),
    ("bronze", "fraud_alerts", "ingested_at"),
    ("silver", "store_minute_metrics", "updated_at"),
)
# A case's status as the verdict it holds.
VERDICTS = (("confirmed", "fraud"), ("dismissed", "legitimate"))
# Every family this endpoint serves (all gauges), with its help text.
FAMILIES = {
    "streamflow_warehouse_newest_seconds": "Unix time at which the newest row of the table "
    "arrived (absent while it is empty).",
    "streamflow_alerts_open": "Alert cases open: neither escalated nor decided.",
    "streamflow_alerts_escalated": "Alert cases escalated and not yet decided.",
    "streamflow_alerts_decided": "Alert cases decided, by the verdict they hold now (a "
    "reopened case leaves its count, so precision is fraud / (fraud + legitimate), not a rate).",
    "streamflow_feedback_unsent": "Verdicts the relay has not yet published to the feedback topic.",
    "streamflow_feedback_oldest_unsent_seconds": "Unix time of the oldest verdict not yet "
    "published (absent when none waits).",
}

Sample = tuple[dict[str, str], float]


@router.get("/metrics")
def metrics(request: Request) -> Response:
    expected = request.app.state.settings.metrics_token
    if expected is None:
        raise HTTPException(404, "Not Found")
    given = bearer_token(request)
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            401, "a valid metrics token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    # A connection of the pool only once the token is known good: a flood of wrong tokens
    # takes none, and a warehouse that is down cannot turn a 401 or 404 into a 500.
    with request.app.state.pool.connection() as held:
        return Response("".join(exposition(held)), media_type=CONTENT_TYPE)


def exposition(connection: psycopg.Connection) -> Iterator[str]:
    """The metrics in Prometheus' text format, family by family."""
    statuses: dict[str, int] = dict(
        connection.execute("SELECT status, alerts FROM console.status_counts").fetchall()
    )
    yield from family("streamflow_warehouse_newest_seconds", newest_rows(connection))
    yield from family("streamflow_alerts_open", [({}, float(statuses.get("open", 0)))])
    yield from family("streamflow_alerts_escalated", [({}, float(statuses.get("escalated", 0)))])
    yield from family(
        "streamflow_alerts_decided",
        [({"verdict": verdict}, float(statuses.get(status, 0))) for status, verdict in VERDICTS],
    )
    unsent, oldest = connection.execute(
        "SELECT count(*), extract(epoch FROM min(created_at)) FROM console.outbox "
        "WHERE sent_at IS NULL"
    ).fetchone() or (0, None)
    yield from family("streamflow_feedback_unsent", [({}, float(unsent))])
    yield from family(
        "streamflow_feedback_oldest_unsent_seconds",
        [] if oldest is None else [({}, float(oldest))],
    )


def newest_rows(connection: psycopg.Connection) -> list[Sample]:
    """The newest arrival per table the console may read; a table that does not exist (an
    older warehouse) or that it may not read is left out, not an error."""
    samples = []
    for schema, table, column in FRESHNESS:
        name = f"{schema}.{table}"
        # to_regclass is NULL for a missing table, and the privilege of NULL is NULL.
        readable = connection.execute(
            "SELECT coalesce(has_table_privilege(to_regclass(%s)::oid, 'SELECT'), false)",
            (name,),
        ).fetchone()
        if not readable or not readable[0]:
            continue
        query = sql.SQL("SELECT extract(epoch FROM max({column})) FROM {table}").format(
            column=sql.Identifier(column), table=sql.Identifier(schema, table)
        )
        row = connection.execute(query).fetchone()
        if row and row[0] is not None:
            samples.append(({"table": name}, float(row[0])))
    return samples


def family(name: str, samples: Iterable[Sample]) -> Iterator[str]:
    yield f"# HELP {name} {FAMILIES[name]}\n# TYPE {name} gauge\n"
    for labels, value in samples:
        shown = ",".join(f'{key}="{_label_value(text)}"' for key, text in labels.items())
        yield f"{name}{{{shown}}} {value!r}\n" if shown else f"{name} {value!r}\n"


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
