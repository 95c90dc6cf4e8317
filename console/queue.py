"""The alert queue: filters, keyset pages in queue order, counts per status, "take next".

Queue order is the riskiest first, then the newest, then the alert id (all descending), so a
page continues from the last row's ``(fraud_score, event_time, alert_id)`` with one row
comparison that the queue index answers: a page costs the same on page 1 and page 10,000.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

STATUSES = ("open", "escalated", "confirmed", "dismissed")
DECIDED = ("confirmed", "dismissed")
MAX_LIMIT = 200
# Filtered counts stop here; a count above it means "more than COUNT_CAP".
COUNT_CAP = 10_000

CASE_COLUMNS = (
    "c.alert_id, c.transaction_id, c.customer_id, c.store_id, c.amount, c.currency, "
    "c.event_time, c.fraud_score, c.rules_triggered, c.detected_at, c.status, "
    "u.name AS assignee, c.decided_at, c.opened_at"
)
CASE_FROM = "console.alert_cases c LEFT JOIN console.users u ON u.user_id = c.assignee"


class BadCursorError(ValueError):
    """A ``next`` cursor this console did not make."""


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """What the queue shows; ``None`` is no filter. ``status`` ``None`` is every status;
    ``assignee`` is a user name, or ``"none"`` for unassigned alerts."""

    status: str | None = "open"
    rule: str | None = None
    store_id: str | None = None
    customer_id: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    since: datetime | None = None
    until: datetime | None = None
    assignee: str | None = None

    def conditions(self, *, with_status: bool = True) -> tuple[list[sql.Composable], list[Any]]:
        where: list[sql.Composable] = []
        params: list[Any] = []

        def add(clause: str, *values: Any) -> None:
            where.append(sql.SQL(clause))
            params.extend(values)

        if with_status and self.status is not None:
            add("c.status = %s", self.status)
        if self.rule is not None:
            add("c.rules_triggered @> ARRAY[%s]::text[]", self.rule)
        if self.store_id is not None:
            add("c.store_id = %s", self.store_id)
        if self.customer_id is not None:
            add("c.customer_id = %s", self.customer_id)
        if self.min_score is not None:
            add("c.fraud_score >= %s", self.min_score)
        if self.max_score is not None:
            add("c.fraud_score <= %s", self.max_score)
        if self.since is not None:
            add("c.event_time >= %s", self.since)
        if self.until is not None:
            add("c.event_time < %s", self.until)
        if self.assignee == "none":
            add("c.assignee IS NULL")
        elif self.assignee is not None:
            add("c.assignee = (SELECT user_id FROM console.users WHERE name = %s)", self.assignee)
        return where, params


@dataclass(slots=True)
class QueuePage:
    alerts: list[dict[str, Any]]
    next: str | None
    counts: dict[str, int] = field(default_factory=dict)


def encode_cursor(row: dict[str, Any]) -> str:
    position = [row["fraud_score"], row["event_time"].isoformat(), str(row["alert_id"])]
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        score, when, alert_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return float(score), datetime.fromisoformat(when), uuid.UUID(alert_id)
    except (ValueError, TypeError, UnicodeDecodeError, OverflowError, RecursionError):
        raise BadCursorError("not a cursor this console made") from None


def page(
    connection: psycopg.Connection, where: QueueFilter, limit: int, cursor: str | None = None
) -> QueuePage:
    conditions, params = where.conditions()
    if cursor is not None:
        conditions.append(sql.SQL("(c.fraud_score, c.event_time, c.alert_id) < (%s, %s, %s)"))
        params.extend(decode_cursor(cursor))
    query = sql.SQL(
        "SELECT {columns} FROM {source} WHERE {where} "
        "ORDER BY c.fraud_score DESC, c.event_time DESC, c.alert_id DESC LIMIT %s"
    ).format(
        columns=sql.SQL(CASE_COLUMNS),
        source=sql.SQL(CASE_FROM),
        where=sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true"),
    )
    with connection.cursor(row_factory=dict_row) as rows:
        found = rows.execute(query, [*params, limit + 1]).fetchall()
    more = len(found) > limit
    found = found[:limit]
    return QueuePage(found, encode_cursor(found[-1]) if more else None)


def counts(connection: psycopg.Connection, where: QueueFilter) -> dict[str, int]:
    """Alerts per status under every filter but the status: without one, the counters the
    database keeps (V013); with one, counted."""
    conditions, params = where.conditions(with_status=False)
    if not conditions:
        kept = connection.execute("SELECT status, alerts FROM console.status_counts").fetchall()
        return dict.fromkeys(STATUSES, 0) | {str(s): int(n) for s, n in kept}
    # Counted per status up to COUNT_CAP + 1: a broad filter over a million cases would
    # otherwise count them all on every page; past the cap the page says "10,000+".
    counted = sql.SQL(" UNION ALL ").join(
        sql.SQL(
            "SELECT {status}, count(*) FROM (SELECT 1 FROM console.alert_cases c "
            "WHERE c.status = {status} AND {where} LIMIT {cap}) AS matched"
        ).format(
            status=sql.Literal(status),
            where=sql.SQL(" AND ").join(conditions),
            cap=sql.Literal(COUNT_CAP + 1),
        )
        for status in STATUSES
    )
    found = {
        str(status): int(n) for status, n in connection.execute(counted, params * len(STATUSES))
    }
    return {status: found.get(status, 0) for status in STATUSES}


def case(connection: psycopg.Connection, alert_id: uuid.UUID) -> dict[str, Any] | None:
    query = sql.SQL("SELECT {columns} FROM {source} WHERE c.alert_id = %s").format(
        columns=sql.SQL(CASE_COLUMNS), source=sql.SQL(CASE_FROM)
    )
    with connection.cursor(row_factory=dict_row) as rows:
        return rows.execute(query, (alert_id,)).fetchone()


def take_next(connection: psycopg.Connection, user_id: int) -> dict[str, Any] | None:
    """Assign the riskiest unassigned open alert to ``user_id`` and log it, in one statement;
    the case as :func:`case` gives it, or ``None`` if there is none. Rows another analyst is
    taking are skipped, never waited for or shared."""
    query = sql.SQL(
        "WITH next AS ("
        "  SELECT alert_id FROM console.alert_cases"
        "  WHERE status = 'open' AND assignee IS NULL"
        "  ORDER BY fraud_score DESC, event_time DESC, alert_id DESC"
        "  LIMIT 1 FOR UPDATE SKIP LOCKED),"
        " c AS ("
        "  UPDATE console.alert_cases c SET assignee = %(user)s, updated_at = now()"
        "  FROM next WHERE c.alert_id = next.alert_id RETURNING c.*),"
        " logged AS ("
        "  INSERT INTO console.case_events (alert_id, actor, kind, assignee)"
        "  SELECT alert_id, %(user)s, 'assigned', %(user)s FROM c)"
        " SELECT {columns} FROM {source}"
    ).format(
        columns=sql.SQL(CASE_COLUMNS),
        source=sql.SQL(CASE_FROM.replace("console.alert_cases c", "c")),
    )
    with connection.cursor(row_factory=dict_row) as rows:
        return rows.execute(query, {"user": user_id}).fetchone()
