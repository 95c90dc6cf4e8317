"""The JSON API other systems integrate with (its OpenAPI document: ``/api/openapi.json``).

Every call carries ``Authorization: Bearer TOKEN`` (``python -m console users token NAME``).
No or a bad token is 401, a role that may not act 403, an unknown alert 404, a malformed
request 422; the body of an error is ``{"detail": "..."}``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from console import actions, evidence
from console.deps import ApiUser, Connection
from console.queue import (
    MAX_LIMIT,
    BadCursorError,
    QueueFilter,
    case,
    counts,
    page,
)
from console.queue import take_next as take_next_alert
from console.reasons import reasons as model_reasons
from console.reasons import recomputed

router = APIRouter(prefix="/api", tags=["alerts"])


class AlertSummary(BaseModel):
    alert_id: uuid.UUID
    transaction_id: str
    customer_id: str
    store_id: str
    amount: Decimal
    currency: str
    event_time: datetime
    fraud_score: float
    rules_triggered: list[str]
    detected_at: datetime
    status: Literal["open", "escalated", "confirmed", "dismissed"]
    assignee: str | None
    decided_at: datetime | None


class AlertList(BaseModel):
    alerts: list[AlertSummary]
    next: str | None = Field(description="The cursor of the next page, or null on the last.")
    counts: dict[str, int] = Field(
        description="Alerts per status under the other filters. With a filter, a count stops "
        "at 10,001: that value means more than 10,000."
    )


class CaseEvent(BaseModel):
    event_id: int
    alert_id: uuid.UUID
    at: datetime
    actor: str
    kind: str
    label: str | None = None
    assignee: str | None = None
    note: str = ""
    feedback_id: uuid.UUID | None = None


class AlertDetail(AlertSummary):
    evidence: dict[str, Any] | None = Field(
        description="The alert as the pipeline wrote it (rule_details, ml_score, ...); null "
        "once past the warehouse's retention."
    )
    transaction: dict[str, Any] | None
    model_reasons: dict[str, Any] | None = Field(
        description="The model's top reasons: {method, reasons: [{feature, value, "
        "contribution}]}, as the pipeline stored them or computed on demand."
    )
    model_reasons_source: Literal["pipeline", "on demand", "none"]
    history: list[CaseEvent]


class ModelReasons(BaseModel):
    stored: dict[str, Any] | None
    recomputed: dict[str, Any] | None = Field(
        description="Computed now from the alert's stored inputs with the console's model "
        "(null without that model version)."
    )


class VerdictRequest(BaseModel):
    label: Literal["fraud", "genuine"]
    note: str = Field(default="", max_length=actions.MAX_NOTE)


class NoteRequest(BaseModel):
    note: str = Field(default="", max_length=actions.MAX_NOTE)


class AssignRequest(BaseModel):
    assignee: str | None = Field(max_length=63, description="A user name, or null to unassign.")


class AlertFilters(BaseModel):
    """What narrows the queue, beside the status (the same for listing and bulk verdicts)."""

    rule: str | None = Field(default=None, max_length=20, description="e.g. FR-002")
    store_id: str | None = Field(default=None, max_length=50)
    customer_id: str | None = Field(default=None, max_length=100)
    min_score: float | None = Field(default=None, ge=0, le=1)
    max_score: float | None = Field(default=None, ge=0, le=1)
    since: datetime | None = Field(default=None, description="event time, inclusive")
    until: datetime | None = Field(default=None, description="event time, exclusive")
    assignee: str | None = Field(
        default=None, max_length=63, description="a user name, or none for unassigned"
    )

    def queue_filter(self, status: str | None) -> QueueFilter:
        return QueueFilter(status=status, **self.model_dump(include=set(AlertFilters.model_fields)))


class AlertQuery(AlertFilters):
    status: Literal["open", "escalated", "confirmed", "dismissed", "all"] = "open"
    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=400, description="the last page's next")


class BulkRequest(AlertFilters):
    label: Literal["fraud", "genuine"]
    note: str = Field(default="", max_length=actions.MAX_NOTE)
    status: Literal["open", "escalated"] = "open"


class BulkResult(BaseModel):
    decided: int


@router.get("/alerts", response_model=AlertList)
def list_alerts(
    user: ApiUser, held: Connection, query: Annotated[AlertQuery, Query()]
) -> dict[str, Any]:
    """Alerts in queue order (riskiest, then newest first), a page at a time."""
    where = query.queue_filter(None if query.status == "all" else query.status)
    try:
        found = page(held, where, query.limit, query.cursor)
    except BadCursorError as error:
        raise HTTPException(422, f"cursor: {error}") from None
    return {"alerts": found.alerts, "next": found.next, "counts": counts(held, where)}


@router.get("/alerts/{alert_id}", response_model=AlertDetail)
def get_alert(
    alert_id: uuid.UUID, user: ApiUser, held: Connection, request: Request
) -> dict[str, Any]:
    found = case(held, alert_id)
    if found is None:
        raise HTTPException(404, f"no alert {alert_id}")
    scored = evidence.alert_evidence(held, alert_id, found["event_time"])
    shown, source = model_reasons(scored, request.app.state.settings.model)
    return {
        **found,
        "evidence": _without_explanation(scored),
        "transaction": evidence.transaction(held, found["transaction_id"]),
        "model_reasons": shown,
        "model_reasons_source": source,
        "history": actions.history(held, alert_id),
    }


def _without_explanation(scored: dict[str, Any] | None) -> dict[str, Any] | None:
    if scored is None:
        return None
    return {k: v for k, v in scored.items() if k not in ("model_inputs", "model_reasons")}


@router.get("/alerts/{alert_id}/reasons", response_model=ModelReasons)
def get_reasons(
    alert_id: uuid.UUID, user: ApiUser, held: Connection, request: Request
) -> dict[str, Any]:
    """The model's reasons as stored with the alert beside the same computed now."""
    found = case(held, alert_id)
    if found is None:
        raise HTTPException(404, f"no alert {alert_id}")
    scored = evidence.alert_evidence(held, alert_id, found["event_time"]) or {}
    return {
        "stored": scored.get("model_reasons"),
        "recomputed": recomputed(scored, request.app.state.settings.model),
    }


@router.post("/alerts/{alert_id}/verdict", response_model=CaseEvent)
def give_verdict(
    alert_id: uuid.UUID, body: VerdictRequest, user: ApiUser, held: Connection, request: Request
) -> dict[str, Any]:
    """Confirm fraud or mark genuine. A later verdict supersedes an earlier one; only a
    supervisor changes a decided alert."""
    topic = request.app.state.settings.feedback_topic
    return actions.verdict(held, user, alert_id, body.label, body.note, topic)


@router.post("/alerts/{alert_id}/escalate", response_model=CaseEvent)
def escalate(alert_id: uuid.UUID, body: NoteRequest, user: ApiUser, held: Connection) -> Any:
    return actions.escalate(held, user, alert_id, body.note)


@router.post("/alerts/{alert_id}/reopen", response_model=CaseEvent)
def reopen(alert_id: uuid.UUID, body: NoteRequest, user: ApiUser, held: Connection) -> Any:
    return actions.reopen(held, user, alert_id, body.note)


@router.post("/alerts/{alert_id}/assign", response_model=CaseEvent)
def assign(alert_id: uuid.UUID, body: AssignRequest, user: ApiUser, held: Connection) -> Any:
    return actions.assign(held, user, alert_id, body.assignee)


@router.post("/alerts/{alert_id}/comment", response_model=CaseEvent)
def comment(alert_id: uuid.UUID, body: NoteRequest, user: ApiUser, held: Connection) -> Any:
    return actions.comment(held, user, alert_id, body.note)


@router.post("/alerts/take-next", response_model=AlertSummary | None)
def take_next(user: ApiUser, held: Connection) -> Any:
    """Assign me the riskiest unassigned open alert (null when there is none). Two analysts
    taking at once never get the same alert."""
    if not user.may("analyst"):
        raise HTTPException(403, "a viewer cannot take alerts")
    return take_next_alert(held, user.user_id)


@router.post("/alerts/bulk-verdict", response_model=BulkResult)
def bulk_verdict(body: BulkRequest, user: ApiUser, held: Connection, request: Request) -> Any:
    """Decide every alert the filter matches, up to 1,000 per call (supervisors)."""
    where = body.queue_filter(body.status)
    topic = request.app.state.settings.feedback_topic
    return {"decided": actions.bulk_verdict(held, user, where, body.label, body.note, topic)}


@router.get("/openapi.json", include_in_schema=False)
def openapi_document(user: ApiUser, request: Request) -> dict[str, Any]:
    document: dict[str, Any] = request.app.openapi()
    return document
