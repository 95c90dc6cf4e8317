"""What a user does to an alert, each in one transaction with its case event.

A verdict commits together: the case's new status, a case event, a feedback row in
``silver.feedback`` and an outbox row the relay publishes to ``fraud.feedback``
(console/relay.py). The feedback has the pipeline's one meaning: the latest report of a
transaction wins, genuine on a tie (transforms/domain/precedence.py), so a later verdict
supersedes an earlier one everywhere. Who may do what:

* an analyst takes, releases, escalates, comments and decides open or escalated alerts;
* only a supervisor changes a decided alert (a new verdict or reopening it), assigns an alert
  to someone else, or decides many alerts at once.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from console.queue import DECIDED, QueueFilter
from console.users import User
from transforms.domain.feedback import feedback_document

LABELS = ("fraud", "genuine")
STATUS_OF_LABEL = {"fraud": "confirmed", "genuine": "dismissed"}
MAX_NOTE = 4000
# A case event as the API shows it: who acted and who was assigned, by name.
EVENTS = (
    "SELECT e.event_id, e.alert_id, e.at, a.name AS actor, e.kind, e.label, "
    "t.name AS assignee, e.note, e.feedback_id FROM console.case_events e "
    "JOIN console.users a ON a.user_id = e.actor "
    "LEFT JOIN console.users t ON t.user_id = e.assignee"
)
# A bulk action decides at most this many alerts per call: one transaction must stay short.
MAX_BULK = 1000


class ActionError(Exception):
    """An action refused; ``status`` is the HTTP status that says why."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def not_found(alert_id: uuid.UUID) -> ActionError:
    return ActionError(f"no alert {alert_id}", 404)


def forbidden(message: str) -> ActionError:
    return ActionError(message, 403)


def _locked_case(connection: psycopg.Connection, alert_id: uuid.UUID) -> dict[str, Any]:
    with connection.cursor(row_factory=dict_row) as rows:
        found = rows.execute(
            "SELECT alert_id, transaction_id, customer_id, store_id, status, assignee "
            "FROM console.alert_cases WHERE alert_id = %s FOR UPDATE",
            (alert_id,),
        ).fetchone()
    if found is None:
        raise not_found(alert_id)
    return found


def _event(
    connection: psycopg.Connection,
    alert_id: uuid.UUID,
    actor: User,
    kind: str,
    *,
    label: str | None = None,
    assignee: int | None = None,
    note: str = "",
    feedback_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    row = connection.execute(
        "INSERT INTO console.case_events "
        "(alert_id, actor, kind, label, assignee, note, feedback_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING event_id",
        (alert_id, actor.user_id, kind, label, assignee, note, feedback_id),
    ).fetchone()
    assert row is not None
    with connection.cursor(row_factory=dict_row) as rows:
        event = rows.execute(EVENTS + " WHERE e.event_id = %s", (row[0],)).fetchone()
    assert event is not None
    return event


def _checked_note(note: str) -> str:
    if len(note) > MAX_NOTE:
        raise ActionError(f"a note has at most {MAX_NOTE} characters", 422)
    return note


def _decide(
    connection: psycopg.Connection,
    case: dict[str, Any],
    user: User,
    label: str,
    note: str,
    topic: str,
) -> dict[str, Any]:
    feedback_id = uuid.uuid4()
    row = connection.execute(
        "INSERT INTO silver.feedback (feedback_id, transaction_id, customer_id, store_id, "
        "label, reported_at, source) "
        "VALUES (%s, %s, %s, %s, %s, date_trunc('milliseconds', clock_timestamp()), 'console') "
        "RETURNING reported_at",
        (feedback_id, case["transaction_id"], case["customer_id"], case["store_id"], label),
    ).fetchone()
    assert row is not None
    reported_at: datetime = row[0]
    record = feedback_record(feedback_id, case, label, reported_at)
    connection.execute(
        "INSERT INTO console.outbox (feedback_id, topic, key, payload, timestamp_ms) "
        "VALUES (%s, %s, %s, %s, %s)",
        (
            feedback_id,
            topic,
            case["customer_id"],
            json.dumps(record),
            int(reported_at.timestamp() * 1000),
        ),
    )
    connection.execute(
        "UPDATE console.alert_cases SET status = %s, decided_at = now(), decided_by = %s, "
        "updated_at = now() WHERE alert_id = %s",
        (STATUS_OF_LABEL[label], user.user_id, case["alert_id"]),
    )
    return _event(
        connection,
        case["alert_id"],
        user,
        "verdict",
        label=label,
        note=note,
        feedback_id=feedback_id,
    )


def feedback_record(
    feedback_id: uuid.UUID, case: dict[str, Any], label: str, reported_at: datetime
) -> dict[str, str]:
    """The record on ``fraud.feedback``: the pipeline's feedback document, from the console,
    with the alert it decides."""
    document = feedback_document(
        feedback_id=str(feedback_id),
        transaction_id=case["transaction_id"],
        customer_id=case["customer_id"],
        store_id=case["store_id"],
        label=label,
        reported_at=reported_at,
        source="console",
    )
    return {**document, "alert_id": str(case["alert_id"])}


def verdict(
    connection: psycopg.Connection,
    user: User,
    alert_id: uuid.UUID,
    label: str,
    note: str,
    topic: str,
) -> dict[str, Any]:
    if not user.may("analyst"):
        raise forbidden("a viewer cannot give a verdict")
    if label not in LABELS:
        raise ActionError("label: expected 'fraud' or 'genuine'", 422)
    note = _checked_note(note)
    with connection.transaction():
        case = _locked_case(connection, alert_id)
        if case["status"] in DECIDED and not user.may("supervisor"):
            raise forbidden("only a supervisor changes a decided alert")
        return _decide(connection, case, user, label, note, topic)


def _move(
    connection: psycopg.Connection,
    alert_id: uuid.UUID,
    user: User,
    note: str,
    *,
    from_statuses: tuple[str, ...],
    to_status: str,
    kind: str,
) -> dict[str, Any]:
    """A case from one of ``from_statuses`` to ``to_status`` (409 from any other), with its
    event; a case back to a status before a decision forgets the decision."""
    note = _checked_note(note)
    with connection.transaction():
        case = _locked_case(connection, alert_id)
        if case["status"] not in from_statuses:
            expected = " or ".join(from_statuses)
            raise ActionError(f"the alert is {case['status']}, not {expected}", 409)
        connection.execute(
            "UPDATE console.alert_cases SET status = %s, updated_at = now(), "
            "decided_at = CASE WHEN %s IN ('confirmed', 'dismissed') THEN decided_at END, "
            "decided_by = CASE WHEN %s IN ('confirmed', 'dismissed') THEN decided_by END "
            "WHERE alert_id = %s",
            (to_status, to_status, to_status, alert_id),
        )
        return _event(connection, alert_id, user, kind, note=note)


def escalate(
    connection: psycopg.Connection, user: User, alert_id: uuid.UUID, note: str
) -> dict[str, Any]:
    if not user.may("analyst"):
        raise forbidden("a viewer cannot escalate")
    return _move(
        connection,
        alert_id,
        user,
        note,
        from_statuses=("open",),
        to_status="escalated",
        kind="escalated",
    )


def reopen(
    connection: psycopg.Connection, user: User, alert_id: uuid.UUID, note: str
) -> dict[str, Any]:
    """A decided alert back in the queue. Its last verdict stays in force (feedback is never
    withdrawn) until a new verdict supersedes it."""
    if not user.may("supervisor"):
        raise forbidden("only a supervisor reopens a decided alert")
    return _move(
        connection, alert_id, user, note, from_statuses=DECIDED, to_status="open", kind="reopened"
    )


def assign(
    connection: psycopg.Connection, user: User, alert_id: uuid.UUID, assignee: str | None
) -> dict[str, Any]:
    """Assign the alert to ``assignee`` (a user name), or unassign it with ``None``."""
    if not user.may("analyst"):
        raise forbidden("a viewer cannot assign alerts")
    with connection.transaction():
        case = _locked_case(connection, alert_id)
        if assignee is None:
            if case["assignee"] not in (None, user.user_id) and not user.may("supervisor"):
                raise forbidden("only a supervisor releases someone else's alert")
            connection.execute(
                "UPDATE console.alert_cases SET assignee = NULL, updated_at = now() "
                "WHERE alert_id = %s",
                (alert_id,),
            )
            return _event(connection, alert_id, user, "unassigned")
        row = connection.execute(
            "SELECT user_id FROM console.users WHERE name = %s AND NOT disabled "
            "AND role <> 'viewer'",
            (assignee,),
        ).fetchone()
        if row is None:
            raise ActionError("assignee: no enabled analyst or supervisor of that name", 422)
        target = int(row[0])
        if target != user.user_id and not user.may("supervisor"):
            raise forbidden("only a supervisor assigns an alert to someone else")
        if case["assignee"] not in (None, target) and not user.may("supervisor"):
            raise ActionError("the alert is assigned to someone else", 409)
        connection.execute(
            "UPDATE console.alert_cases SET assignee = %s, updated_at = now() WHERE alert_id = %s",
            (target, alert_id),
        )
        return _event(connection, alert_id, user, "assigned", assignee=target)


def comment(
    connection: psycopg.Connection, user: User, alert_id: uuid.UUID, note: str
) -> dict[str, Any]:
    if not user.may("analyst"):
        raise forbidden("a viewer cannot comment")
    note = _checked_note(note)
    if not note.strip():
        raise ActionError("an empty comment", 422)
    with connection.transaction():
        _locked_case(connection, alert_id)
        return _event(connection, alert_id, user, "comment", note=note)


def bulk_verdict(
    connection: psycopg.Connection,
    user: User,
    where: QueueFilter,
    label: str,
    note: str,
    topic: str,
) -> int:
    """Decide every open or escalated alert the filter matches (at most ``MAX_BULK``, the
    riskiest first); how many were decided."""
    if not user.may("supervisor"):
        raise forbidden("only a supervisor acts on many alerts at once")
    if label not in LABELS:
        raise ActionError("label: expected 'fraud' or 'genuine'", 422)
    if where.status not in ("open", "escalated"):
        raise ActionError("a bulk verdict applies to open or escalated alerts", 422)
    note = _checked_note(note)
    conditions, params = where.conditions()
    query = sql.SQL(
        "SELECT c.alert_id, c.transaction_id, c.customer_id, c.store_id, c.status, c.assignee "
        "FROM console.alert_cases c WHERE {where} "
        "ORDER BY c.fraud_score DESC, c.event_time DESC, c.alert_id DESC LIMIT %s "
        "FOR UPDATE SKIP LOCKED"
    ).format(where=sql.SQL(" AND ").join(conditions))
    with connection.transaction():
        with connection.cursor(row_factory=dict_row) as rows:
            cases = rows.execute(query, [*params, MAX_BULK]).fetchall()
        for case in cases:
            _decide(connection, case, user, label, note, topic)
    return len(cases)


def history(connection: psycopg.Connection, alert_id: uuid.UUID) -> list[dict[str, Any]]:
    with connection.cursor(row_factory=dict_row) as rows:
        return rows.execute(
            EVENTS + " WHERE e.alert_id = %s ORDER BY e.at, e.event_id", (alert_id,)
        ).fetchall()
