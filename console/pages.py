"""The pages an analyst works in: log in, the queue, an alert, the dashboard.

Server-rendered (Jinja, escaping everything), with plain forms: every form posts back with the
session's CSRF token, and every action redirects (303) to the page that shows its result.
A request without a session is sent to the login page.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import psycopg
from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from console import actions, charts, dashboard, evidence, sessions
from console.deps import Connection
from console.queue import (
    COUNT_CAP,
    MAX_LIMIT,
    STATUSES,
    BadCursorError,
    QueueFilter,
    case,
    counts,
    page,
    take_next,
)
from console.reasons import reasons as model_reasons
from console.sessions import COOKIE, Session
from console.users import authenticate
from console.web_paths import TEMPLATES

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATES)
LOGIN_CSRF_COOKIE = "streamflow_login_csrf"
PAGE_SIZE = 50


class LoginRequiredError(Exception):
    """No valid session: the browser goes to the login page."""


def current_session(request: Request, held: Connection) -> Session:
    found = sessions.session_of(held, request.cookies.get(COOKIE))
    if found is None:
        raise LoginRequiredError
    return found


PageSession = Annotated[Session, Depends(current_session)]


def checked(session: Session, csrf_token: str | None) -> Session:
    if not session.csrf_matches(csrf_token):
        raise actions.ActionError("the form is stale or forged: reload the page", 403)
    return session


def render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status)


def refused_page(request: Request, message: str, status: int) -> HTMLResponse:
    return render(request, "refused.html", {"message": message, "session": None}, status)


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def safe_next(target: str | None) -> str:
    """Only a path of this console: never another site (``//host``, ``https://...``)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/queue"


def cookie_flags(request: Request) -> dict[str, Any]:
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
        "path": "/",
    }


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(
        request, "login.html", {"csrf_token": token, "next": safe_next(next), "session": None}
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, **cookie_flags(request))
    return response


@router.post("/login")
def login(
    request: Request,
    held: Connection,
    name: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=2000)],
    csrf_token: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=2000)] = "/queue",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if not expected or not secrets.compare_digest(expected.encode(), csrf_token.encode()):
        return refused_page(request, "the login form is stale: reload it", 403)
    client = request.client.host if request.client else "unknown"
    if sessions.throttled(held, name, client):
        response = refused_page(request, "too many failed logins: try again later", 429)
        response.headers["Retry-After"] = str(int(sessions.THROTTLE_WINDOW.total_seconds()))
        return response
    user = authenticate(held, name, password)
    if user is None:
        sessions.record_failure(held, name, client)
        token = secrets.token_urlsafe(32)
        response = render(
            request,
            "login.html",
            {
                "csrf_token": token,
                "next": safe_next(next),
                "session": None,
                "error": "wrong name or password",
            },
            401,
        )
        response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, **cookie_flags(request))
        return response
    sessions.clear_failures(held, name)
    signed_in = see_other(safe_next(next))
    signed_in.set_cookie(
        COOKIE,
        sessions.open_session(held, user),
        max_age=int(sessions.SESSION_LIFETIME.total_seconds()),
        **cookie_flags(request),
    )
    signed_in.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return signed_in


@router.post("/logout")
def logout(
    request: Request,
    held: Connection,
    session: PageSession,
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    checked(session, csrf_token)
    sessions.close_session(held, request.cookies.get(COOKIE))
    response = see_other("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
def home(session: PageSession) -> Response:
    return see_other("/queue")


def queue_filter(request: Request) -> QueueFilter:
    """The queue's filters from its form. A value that does not parse is refused (422), never
    dropped: a bulk verdict on a filter that silently lost a part would decide other alerts."""
    query = request.query_params

    def text(name: str, limit: int) -> str | None:
        value = (query.get(name) or "").strip()
        if len(value) > limit:
            raise actions.ActionError(f"{name}: at most {limit} characters", 422)
        return value or None

    def number(name: str) -> float | None:
        value = text(name, 20)
        try:
            score = float(value) if value else None
        except ValueError:
            raise actions.ActionError(f"{name}: not a number", 422) from None
        if score is not None and not 0.0 <= score <= 1.0:
            raise actions.ActionError(f"{name}: a score from 0 to 1", 422)
        return score

    def instant(name: str) -> datetime | None:
        value = text(name, 40)
        try:
            when = datetime.fromisoformat(value) if value else None
        except ValueError:
            raise actions.ActionError(f"{name}: not a date (YYYY-MM-DD)", 422) from None
        # A date from the form's date picker is a UTC day.
        return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when

    status = query.get("status") or "open"
    if status not in (*STATUSES, "all"):
        raise actions.ActionError("status: not a status", 422)
    return QueueFilter(
        status=None if status == "all" else status,
        rule=text("rule", 20),
        store_id=text("store_id", 50),
        customer_id=text("customer_id", 100),
        min_score=number("min_score"),
        max_score=number("max_score"),
        since=instant("since"),
        until=instant("until"),
        assignee=text("assignee", 63),
    )


@router.get("/queue")
def queue_page(request: Request, held: Connection, session: PageSession) -> HTMLResponse:
    where = queue_filter(request)
    cursor = request.query_params.get("cursor")
    try:
        found = page(held, where, PAGE_SIZE, cursor if cursor and len(cursor) <= 400 else None)
    except BadCursorError:
        found = page(held, where, PAGE_SIZE)
    kept = {key: value for key, value in request.query_params.items() if key != "cursor" and value}
    next_link = f"/queue?{urlencode({**kept, 'cursor': found.next})}" if found.next else None
    return render(
        request,
        "queue.html",
        {
            "session": session,
            "alerts": found.alerts,
            "counts": counts(held, where),
            "capped": bool(where.conditions(with_status=False)[0]),
            "count_cap": COUNT_CAP,
            "where": where,
            "status": request.query_params.get("status") or "open",
            "filters": kept,
            "next_link": next_link,
            "statuses": STATUSES,
            "max_limit": MAX_LIMIT,
        },
    )


@router.post("/queue/take-next")
def take_next_page(
    held: Connection, session: PageSession, csrf_token: Annotated[str | None, Form()] = None
) -> Response:
    checked(session, csrf_token)
    if not session.user.may("analyst"):
        raise actions.ActionError("a viewer cannot take alerts", 403)
    taken = take_next(held, session.user.user_id)
    return see_other(f"/alerts/{taken['alert_id']}" if taken else "/queue?empty=1")


@router.post("/queue/bulk")
def bulk_page(
    request: Request,
    held: Connection,
    session: PageSession,
    label: Annotated[str, Form()],
    csrf_token: Annotated[str | None, Form()] = None,
    note: Annotated[str, Form(max_length=actions.MAX_NOTE)] = "",
) -> Response:
    checked(session, csrf_token)
    where = queue_filter(request)
    topic = request.app.state.settings.feedback_topic
    decided = actions.bulk_verdict(held, session.user, where, label, note, topic)
    kept = {k: v for k, v in request.query_params.items() if k != "cursor" and v}
    return see_other(f"/queue?{urlencode({**kept, 'decided': decided})}")


def _alert_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise actions.ActionError(f"no alert {text[:40]!r}", 404) from None


@router.get("/alerts/{alert_id}")
def alert_page(
    alert_id: str, request: Request, held: Connection, session: PageSession
) -> HTMLResponse:
    found = case(held, _alert_id(alert_id))
    if found is None:
        raise actions.ActionError(f"no alert {alert_id}", 404)
    timeline = evidence.customer_timeline(held, found["customer_id"], found["event_time"])
    scored = evidence.alert_evidence(held, found["alert_id"], found["event_time"])
    shown, source = model_reasons(scored, request.app.state.settings.model)
    return render(
        request,
        "alert.html",
        {
            "session": session,
            "case": found,
            "evidence": scored,
            "reasons": shown,
            "reasons_source": source,
            "transaction": evidence.transaction(held, found["transaction_id"]),
            "timeline": timeline,
            "timeline_svg": charts.timeline(timeline, found["transaction_id"]),
            "map_svg": charts.location_map(timeline, found["transaction_id"]),
            "store": evidence.store_risk(held, found["store_id"], found["event_time"]),
            "related": evidence.related_alerts(
                held, found["alert_id"], found["customer_id"], found["store_id"]
            ),
            "history": actions.history(held, found["alert_id"]),
            "decided": found["status"] in ("confirmed", "dismissed"),
        },
    )


def _act(
    request: Request,
    held: psycopg.Connection,
    session: Session,
    csrf_token: str | None,
    alert_id: str,
    form: dict[str, str],
) -> Response:
    checked(session, csrf_token)
    target = _alert_id(alert_id)
    action = form["action"]
    note = form.get("note", "")
    user = session.user
    topic = request.app.state.settings.feedback_topic
    if action in ("fraud", "genuine"):
        actions.verdict(held, user, target, action, note, topic)
    elif action == "escalate":
        actions.escalate(held, user, target, note)
    elif action == "reopen":
        actions.reopen(held, user, target, note)
    elif action == "take":
        actions.assign(held, user, target, user.name)
    elif action == "release":
        actions.assign(held, user, target, None)
    elif action == "assign":
        actions.assign(held, user, target, form.get("assignee") or None)
    elif action == "comment":
        actions.comment(held, user, target, note)
    else:
        raise actions.ActionError(f"no action {action[:40]!r}", 422)
    return see_other(f"/alerts/{target}")


@router.post("/alerts/{alert_id}")
def alert_action(
    alert_id: str,
    request: Request,
    held: Connection,
    session: PageSession,
    action: Annotated[str, Form(max_length=20)],
    csrf_token: Annotated[str | None, Form(max_length=200)] = None,
    note: Annotated[str, Form(max_length=actions.MAX_NOTE)] = "",
    assignee: Annotated[str, Form(max_length=63)] = "",
) -> Response:
    form = {"action": action, "note": note, "assignee": assignee}
    return _act(request, held, session, csrf_token, alert_id, form)


@router.get("/dashboard")
def dashboard_page(request: Request, held: Connection, session: PageSession) -> HTMLResponse:
    return render(request, "dashboard.html", {"session": session, **dashboard.panels(held)})
