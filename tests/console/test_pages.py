"""The pages through HTTP against a real PostgreSQL: sessions, CSRF, throttling, escaping,
security headers. (tests/console/test_browser.py drives them in a real browser.)"""

from __future__ import annotations

import base64
import re

import psycopg
import pytest
from fastapi.testclient import TestClient

from console.sessions import MAX_FAILURES_PER_NAME
from console.web import CONTENT_SECURITY_POLICY
from tests.console.conftest import PASSWORD, Account
from tests.console.seed import SeededAlert, seed_alerts

XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def alerts(warehouse_dsn: str, client: TestClient) -> list[SeededAlert]:
    return seed_alerts(warehouse_dsn, 8, prefix="p")


@pytest.fixture(scope="module")
def hostile(warehouse_dsn: str, client: TestClient) -> SeededAlert:
    """An alert whose ids and evidence are attacker-controlled markup, one field 1 MB."""
    seeded = seed_alerts(
        warehouse_dsn,
        1,
        prefix=XSS,
        store_id=XSS,
        customer_of=lambda _: '"><img src=x onerror=alert(2)>',
        rules=(XSS,),
    )[0]
    with psycopg.connect(warehouse_dsn, autocommit=True) as connection:
        connection.execute(
            "UPDATE bronze.fraud_alerts SET explanation = %s WHERE transaction_id = %s",
            ("x" * 1_000_000 + XSS, seeded.transaction_id),
        )
    return seeded


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def logged_in(client: TestClient, name: str, password: str = PASSWORD) -> TestClient:
    client.cookies.clear()
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text[:500]
    return client


def test_a_page_without_a_session_sends_to_the_login(client: TestClient) -> None:
    client.cookies.clear()
    for path in ("/queue", "/dashboard", "/alerts/00000000-0000-0000-0000-000000000000", "/"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=")


def test_login_sets_a_strict_http_only_cookie_and_logout_ends_it(
    client: TestClient, accounts: dict[str, Account], alerts: list[SeededAlert]
) -> None:
    client.cookies.clear()
    form = client.get("/login?next=/dashboard")
    answer = client.post(
        "/login",
        data={
            "name": "ana",
            "password": PASSWORD,
            "csrf_token": csrf_of(form.text),
            "next": "/dashboard",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/dashboard"
    cookie = next(
        v
        for k, v in answer.headers.multi_items()
        if k == "set-cookie" and "streamflow_session" in v
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    queue = client.get("/queue")
    assert queue.status_code == 200
    assert "p7" in queue.text
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403  # no CSRF
    out = client.post("/logout", data={"csrf_token": csrf_of(queue.text)}, follow_redirects=False)
    assert out.status_code == 303
    client.cookies.clear()
    client.cookies.set("streamflow_session", cookie.split(";")[0].split("=", 1)[1])
    assert client.get("/queue", follow_redirects=False).status_code == 303  # session gone


def test_login_refuses_a_form_without_its_token_and_other_sites_as_next(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    client.cookies.clear()
    client.get("/login")
    forged = client.post("/login", data={"name": "ana", "password": PASSWORD, "csrf_token": "x"})
    assert forged.status_code == 403
    form = client.get("/login?next=//evil.example/")
    assert 'value="/queue"' in form.text
    answer = client.post(
        "/login",
        data={
            "name": "ana",
            "password": PASSWORD,
            "csrf_token": csrf_of(form.text),
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/queue"


def test_failed_logins_are_throttled(client: TestClient, accounts: dict[str, Account]) -> None:
    client.cookies.clear()
    for _ in range(MAX_FAILURES_PER_NAME):
        form = client.get("/login")
        wrong = client.post(
            "/login",
            data={"name": "bruno", "password": "wrong password!", "csrf_token": csrf_of(form.text)},
        )
        assert wrong.status_code == 401
        assert "wrong name or password" in wrong.text
    form = client.get("/login")
    blocked = client.post(
        "/login", data={"name": "bruno", "password": PASSWORD, "csrf_token": csrf_of(form.text)}
    )
    assert blocked.status_code == 429  # even the right password waits
    assert int(blocked.headers["Retry-After"]) > 0
    logged_in(client, "ana")  # another name from the same client is not blocked yet


def test_an_analyst_takes_and_confirms_from_the_pages(
    client: TestClient, accounts: dict[str, Account], alerts: list[SeededAlert], warehouse_dsn: str
) -> None:
    logged_in(client, "ana")
    queue = client.get("/queue")
    token = csrf_of(queue.text)
    assert client.post("/queue/take-next", data={}, follow_redirects=False).status_code == 403
    taken = client.post("/queue/take-next", data={"csrf_token": token}, follow_redirects=False)
    page_path = taken.headers["location"]
    assert page_path.startswith("/alerts/")
    page = client.get(page_path)
    assert 'id="assignee">ana<' in page.text
    confirmed = client.post(
        page_path,
        data={"csrf_token": token, "action": "fraud", "note": "seen before"},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303
    page = client.get(page_path)
    assert 'id="status">confirmed<' in page.text
    assert "seen before" in page.text
    again = client.post(page_path, data={"csrf_token": token, "action": "genuine"})
    assert again.status_code == 403
    alert_id = page_path.rsplit("/", 1)[1]
    with psycopg.connect(warehouse_dsn) as connection:
        rows = connection.execute(
            "SELECT f.label FROM console.case_events e JOIN silver.feedback f USING (feedback_id) "
            "WHERE e.alert_id = %s",
            (alert_id,),
        ).fetchall()
    assert rows == [("fraud",)]


def test_a_viewer_sees_but_cannot_act(
    client: TestClient, accounts: dict[str, Account], alerts: list[SeededAlert]
) -> None:
    logged_in(client, "vera")
    queue = client.get("/queue")
    assert 'id="take-next"' not in queue.text
    page = client.get(f"/alerts/{alerts[0].alert_id}")
    assert 'id="confirm-fraud"' not in page.text
    refused = client.post(
        f"/alerts/{alerts[0].alert_id}", data={"csrf_token": csrf_of(page.text), "action": "fraud"}
    )
    assert refused.status_code == 403


def test_attacker_controlled_text_is_shown_as_text(
    client: TestClient, accounts: dict[str, Account], hostile: SeededAlert
) -> None:
    logged_in(client, "ana")
    for path in (
        f"/queue?store_id={XSS}",
        f"/alerts/{hostile.alert_id}",
        "/dashboard",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        assert XSS not in page.text
        assert "<img src=x" not in page.text
        assert "&lt;script&gt;" in page.text or path == "/dashboard"
    dashboard = client.get("/dashboard")
    assert "<script>alert" not in dashboard.text


def test_every_response_carries_the_security_headers(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    logged_in(client, "ana")
    for path in ("/queue", "/login", "/healthz", "/static/console.css", "/api/alerts"):
        answer = client.get(path)
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    page = client.get("/queue").text
    assert "<script>" not in page
    assert "onclick" not in page
    assert "style=" not in page


def test_the_dashboard_draws_its_panels(
    client: TestClient, accounts: dict[str, Account], alerts: list[SeededAlert]
) -> None:
    logged_in(client, "ana")
    page = client.get("/dashboard").text
    assert page.count("<svg") == 6
    assert "precision per rule" in page


def test_a_filter_that_does_not_parse_is_refused_not_dropped(
    client: TestClient, accounts: dict[str, Account], alerts: list[SeededAlert]
) -> None:
    logged_in(client, "sofia")
    queue = client.get("/queue")
    token = csrf_of(queue.text)
    for query in ("min_score=0,9", "since=yesterday", "status=maybe", "max_score=7"):
        assert client.get(f"/queue?{query}").status_code == 422, query
        # A bulk verdict on a filter that lost a part would decide other alerts.
        bulk = client.post(f"/queue/bulk?{query}", data={"csrf_token": token, "label": "genuine"})
        assert bulk.status_code == 422, query
    assert client.get("/queue?since=2026-11-20&until=2026-11-21").status_code == 200


def test_hostile_values_get_a_4xx_not_a_500(
    client: TestClient, accounts: dict[str, Account], alerts: list[SeededAlert]
) -> None:
    headers = accounts["ana"].headers
    nul = client.get("/api/alerts", params={"store_id": "s\x001"}, headers=headers)
    assert nul.status_code == 422
    comment = client.post(
        f"/api/alerts/{alerts[0].alert_id}/comment", json={"note": "a\x00b"}, headers=headers
    )
    assert comment.status_code == 422
    logged_in(client, "ana")
    assert client.get("/queue?cursor=" + "W" * 5000).status_code == 200  # ignored
    deep = base64.urlsafe_b64encode(b"[" * 5000).decode()
    assert client.get(f"/queue?cursor={deep}").status_code == 200
    refused = client.post("/logout", data={"csrf_token": "é"}, follow_redirects=False)
    assert refused.status_code == 403
