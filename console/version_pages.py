"""The versions pages (supervisors): the registry, challengers in shadow, backtests of a
candidate and its promotion with an effective time (:mod:`console.versions`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse

from console import backtests, versions
from console.actions import ActionError
from console.deps import Connection
from console.pages import PageSession, checked, render, see_other
from transforms.domain.effective import CHAMPION, MAX_NOTE
from transforms.domain.rules_registry import MAX_RULES_TEXT

router = APIRouter(include_in_schema=False)


def _day(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ActionError(f"{name}: not a date (YYYY-MM-DD)", 422) from None


def _instant(text: str) -> datetime:
    """The form's date and time, UTC unless it says otherwise."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ActionError("effective_from: not a date and time", 422) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("/versions")
def versions_page(request: Request, held: Connection, session: PageSession) -> HTMLResponse:
    versions.require_supervisor(session.user)
    return render(
        request,
        "versions.html",
        {
            "session": session,
            "registry": versions.registry(held),
            "challengers": versions.challenger_quality(held),
            "backtests": versions.backtests(held),
            "enabled": request.app.state.settings.backtests,
            "max_days": versions.MAX_BACKTEST_DAYS,
            "max_rules": MAX_RULES_TEXT,
            "max_note": MAX_NOTE,
        },
    )


@router.post("/versions/backtests")
def request_backtest(
    request: Request,
    held: Connection,
    session: PageSession,
    rules: Annotated[str, Form(max_length=MAX_RULES_TEXT)],
    start: Annotated[str, Form(alias="from", max_length=20)],
    end: Annotated[str, Form(alias="to", max_length=20)],
    csrf_token: Annotated[str | None, Form(max_length=200)] = None,
    note: Annotated[str, Form(max_length=MAX_NOTE)] = "",
) -> Response:
    checked(session, csrf_token)
    versions.require_supervisor(session.user)
    if not request.app.state.settings.backtests:
        raise ActionError("this console runs no backtests: it was given no archives", 503)
    backtest_id = versions.request_backtest(
        held, session.user, rules, _day("from", start), _day("to", end), note
    )
    return see_other(f"/versions/backtests/{backtest_id}")


def _found(held: Connection, backtest_id: int) -> dict[str, object]:
    found = versions.backtest(held, backtest_id)
    if found is None:
        raise ActionError(f"no backtest {backtest_id}", 404)
    return found


@router.get("/versions/backtests/{backtest_id}")
def backtest_page(
    backtest_id: int, request: Request, held: Connection, session: PageSession
) -> HTMLResponse:
    versions.require_supervisor(session.user)
    found = _found(held, backtest_id)
    return render(
        request,
        "backtest.html",
        {
            "session": session,
            "backtest": found,
            "report": backtests.parsed_report(found["report"]),  # type: ignore[arg-type]
            "pictures": backtests.PICTURES,
            "earliest": versions.earliest_effective_from().strftime("%Y-%m-%dT%H:%M"),
            "max_note": MAX_NOTE,
        },
    )


@router.get("/versions/backtests/{backtest_id}/{name}.png")
def backtest_picture(
    backtest_id: int, name: str, held: Connection, session: PageSession
) -> Response:
    versions.require_supervisor(session.user)
    image = backtests.picture(_found(held, backtest_id), name)
    if image is None:
        raise ActionError(f"no picture {name[:40]!r} for backtest {backtest_id}", 404)
    return Response(image, media_type="image/png")


@router.post("/versions/backtests/{backtest_id}/promote")
def promote(
    backtest_id: int,
    request: Request,
    held: Connection,
    session: PageSession,
    effective_from: Annotated[str, Form(max_length=40)],
    csrf_token: Annotated[str | None, Form(max_length=200)] = None,
    note: Annotated[str, Form(max_length=MAX_NOTE)] = "",
    role: Annotated[str, Form(max_length=20)] = CHAMPION,
) -> Response:
    checked(session, csrf_token)
    settings = request.app.state.settings
    registration = versions.promote(
        held,
        session.user,
        backtest_id,
        _instant(effective_from),
        note,
        settings.kafka_bootstrap,
        settings.rules_topic,
        role,
    )
    return see_other(f"/versions?promoted={registration}")
