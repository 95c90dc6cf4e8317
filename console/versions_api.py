"""The versions API (supervisors): backtest a candidate, read its report, promote it.

The same rules as the pages (:mod:`console.versions`); errors are ``{"detail": "..."}`` with
401, 403, 404, 409 (not finished, already promoted), 422 (a candidate or time the job would
refuse), 502/503 (no broker).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from console import versions
from console.actions import ActionError
from console.deps import ApiUser, Connection
from transforms.domain.effective import MAX_NOTE
from transforms.domain.rules_registry import MAX_RULES_TEXT

router = APIRouter(prefix="/api/backtests", tags=["versions"])


class BacktestRequest(BaseModel):
    rules: str = Field(max_length=MAX_RULES_TEXT, description="The candidate's rules file.")
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    note: str = Field("", max_length=MAX_NOTE)


class PromoteRequest(BaseModel):
    effective_from: datetime = Field(description="An instant with its UTC offset.")
    role: Literal["champion", "challenger"] = "champion"
    note: str = Field("", max_length=MAX_NOTE)


class Backtest(BaseModel):
    backtest_id: int
    status: Literal["queued", "running", "done", "failed"]
    candidate_version: str
    from_day: date
    to_day: date
    requested_by: str
    requested_at: datetime
    error: str | None
    report: dict[str, Any] | None = Field(description="pipelines.backtest's report.json.")
    promoted_as: int | None


def _shown(found: dict[str, Any]) -> dict[str, Any]:
    return {**found, "requested_by": found["requested_by_name"]}


@router.post("", response_model=Backtest, status_code=202)
def request_backtest(
    body: BacktestRequest, user: ApiUser, held: Connection, request: Request
) -> Any:
    """Queue a backtest of a candidate over archived days; poll it until done."""
    versions.require_supervisor(user)
    if not request.app.state.settings.backtests:
        raise ActionError("this console runs no backtests: it was given no archives", 503)
    backtest_id = versions.request_backtest(held, user, body.rules, body.start, body.end, body.note)
    return _shown(versions.backtest(held, backtest_id) or {})


@router.get("/{backtest_id}", response_model=Backtest)
def get_backtest(backtest_id: int, user: ApiUser, held: Connection) -> Any:
    versions.require_supervisor(user)
    found = versions.backtest(held, backtest_id)
    if found is None:
        raise ActionError(f"no backtest {backtest_id}", 404)
    return _shown(found)


@router.post("/{backtest_id}/promote")
def promote(
    backtest_id: int, body: PromoteRequest, user: ApiUser, held: Connection, request: Request
) -> dict[str, int]:
    """Register the finished backtest's candidate, effective from ``effective_from``, and
    publish it to the running jobs."""
    settings = request.app.state.settings
    registration = versions.promote(
        held,
        user,
        backtest_id,
        body.effective_from,
        body.note,
        settings.kafka_bootstrap,
        settings.rules_topic,
        body.role,
    )
    return {"registration_id": registration}
