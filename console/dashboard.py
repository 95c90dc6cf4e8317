"""The dashboard's panels: what the queue and the pipeline look like, as pictures.

Windows end at the latest alert rather than at the clock, so a replayed or backfilled day
shows as it happened.
"""

from __future__ import annotations

from typing import Any

import psycopg
from markupsafe import Markup

from console import charts

HOURS = 48
# Disjoint spans of time from detection to decision: (name, upper bound) in order.
DECISION_BUCKETS = (
    ("under 5 min", "5 minutes"),
    ("5 min to 1 h", "1 hour"),
    ("1 h to 1 day", "1 day"),
    ("1 to 7 days", "7 days"),
)


def _rows(connection: psycopg.Connection, query: str, params: tuple[Any, ...] = ()) -> list[Any]:
    return connection.execute(query, params).fetchall()


def alerts_per_hour(connection: psycopg.Connection) -> Markup:
    rows = _rows(
        connection,
        "WITH last AS (SELECT date_trunc('hour', max(detected_at)) AS hour "
        "FROM console.alert_cases) "
        "SELECT to_char(h.hour, 'MM-DD HH24h'), count(c.alert_id) "
        "FROM last, generate_series(last.hour - interval '1 hour' * (%s - 1), last.hour, "
        "interval '1 hour') AS h(hour) "
        "LEFT JOIN console.alert_cases c ON c.detected_at >= h.hour "
        "AND c.detected_at < h.hour + interval '1 hour' GROUP BY h.hour ORDER BY h.hour",
        (HOURS,),
    )
    return charts.columns([(str(h), float(n)) for h, n in rows], f"alerts per hour, last {HOURS}")


def status_shares(connection: psycopg.Connection) -> Markup:
    found = dict(_rows(connection, "SELECT status, count(*) FROM console.alert_cases GROUP BY 1"))
    values = [
        (status, float(found.get(status, 0)))
        for status in ("open", "escalated", "confirmed", "dismissed")
    ]
    return charts.shares(values, "alerts by status")


def rule_precision(connection: psycopg.Connection) -> Markup:
    """Each rule's precision on decided alerts: of the alerts it fired on, the share confirmed
    as fraud (one minus its false-positive rate)."""
    rows = _rows(
        connection,
        "SELECT rule, count(*) FILTER (WHERE status = 'confirmed'), count(*) "
        "FROM console.alert_cases, unnest(rules_triggered) AS rule "
        "WHERE status IN ('confirmed', 'dismissed') GROUP BY rule ORDER BY rule",
    )
    values = [(f"{rule} (n={total})", 100.0 * confirmed / total) for rule, confirmed, total in rows]
    return charts.bars(values, "precision per rule on decided alerts", unit="%", maximum=100.0)


def time_to_decision(connection: psycopg.Connection) -> Markup:
    """How many decided alerts took how long from detection, in disjoint spans."""
    taken = "decided_at - detected_at"
    spans = []
    lower = "interval '0'"
    for _, upper in DECISION_BUCKETS:
        spans.append(f"count(*) FILTER (WHERE {taken} >= {lower} AND {taken} < interval '{upper}')")
        lower = f"interval '{upper}'"
    spans.append(f"count(*) FILTER (WHERE {taken} >= {lower})")
    row = connection.execute(
        f"SELECT {', '.join(spans)} FROM console.alert_cases WHERE decided_at IS NOT NULL"
    ).fetchone()
    assert row is not None
    names = [name for name, _ in DECISION_BUCKETS] + ["over 7 days"]
    values = [(name, float(n)) for name, n in zip(names, row, strict=True)]
    return charts.bars(values, "time from detection to decision", colour=charts.PALETTE[2])


def dlq_rate(connection: psycopg.Connection) -> Markup:
    """Dead letters per hundred records received, per hour."""
    rows = _rows(
        connection,
        "WITH last AS (SELECT date_trunc('hour', max(received_at)) AS hour "
        "FROM bronze.dlq_events), "
        "hours AS (SELECT h.hour FROM last, generate_series(last.hour - interval '1 hour' * "
        "(%s - 1), last.hour, interval '1 hour') AS h(hour)) "
        "SELECT to_char(hours.hour, 'MM-DD HH24h'), "
        "(SELECT count(*) FROM bronze.dlq_events d WHERE d.received_at >= hours.hour "
        " AND d.received_at < hours.hour + interval '1 hour'), "
        "(SELECT count(*) FROM silver.clean_transactions t WHERE t.event_time >= hours.hour "
        " AND t.event_time < hours.hour + interval '1 hour') FROM hours ORDER BY hours.hour",
        (HOURS,),
    )
    values = [
        (str(hour), 100.0 * dead / (dead + clean) if dead + clean else 0.0)
        for hour, dead, clean in rows
    ]
    return charts.columns(values, "dead letters per 100 records, per hour")


def riskiest_stores(connection: psycopg.Connection) -> Markup:
    rows = _rows(
        connection,
        "SELECT store_id, count(*) FROM console.alert_cases "
        "WHERE status IN ('open', 'escalated') GROUP BY store_id ORDER BY 2 DESC, 1 LIMIT 10",
    )
    return charts.bars(
        [(str(store), float(n)) for store, n in rows],
        "stores with the most undecided alerts",
        colour=charts.ALERT,
    )


def panels(connection: psycopg.Connection) -> dict[str, Markup]:
    return {
        "alerts_per_hour": alerts_per_hour(connection),
        "status_shares": status_shares(connection),
        "rule_precision": rule_precision(connection),
        "time_to_decision": time_to_decision(connection),
        "dlq_rate": dlq_rate(connection),
        "riskiest_stores": riskiest_stores(connection),
    }
