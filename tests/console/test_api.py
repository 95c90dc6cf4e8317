"""The JSON API against a real PostgreSQL: the contract other systems integrate with."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.console.conftest import TOPIC, Account
from tests.console.seed import SeededAlert, seed_alerts


@pytest.fixture(scope="module")
def alerts(warehouse_dsn: str, client: TestClient) -> list[SeededAlert]:
    return seed_alerts(warehouse_dsn, 30)


def test_every_call_needs_a_valid_token(client: TestClient, alerts: list[SeededAlert]) -> None:
    for headers in ({}, {"Authorization": "Bearer sft_nope"}, {"Authorization": "Basic eDp5"}):
        answer = client.get("/api/alerts", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    verdict = client.post(f"/api/alerts/{alerts[0].alert_id}/verdict", json={"label": "fraud"})
    assert verdict.status_code == 401
    assert client.get("/api/openapi.json").status_code == 401


def test_the_list_is_the_queue_in_order_with_its_cursor(
    client: TestClient, accounts: dict[str, Account], alerts: list[SeededAlert]
) -> None:
    seen: list[dict[str, object]] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"status": "open", "limit": 7}
        if cursor:
            params["cursor"] = cursor
        answer = client.get("/api/alerts", params=params, headers=accounts["vera"].headers)
        assert answer.status_code == 200
        body = answer.json()
        seen += body["alerts"]
        cursor = body["next"]
        if cursor is None:
            break
    assert len(seen) == len({a["alert_id"] for a in seen}) == 30
    order = [(a["fraud_score"], a["event_time"], a["alert_id"]) for a in seen]
    assert order == sorted(order, reverse=True)
    first = seen[0]
    assert set(first) >= {
        "alert_id",
        "transaction_id",
        "customer_id",
        "store_id",
        "fraud_score",
        "rules_triggered",
        "status",
        "assignee",
    }
    assert body["counts"]["open"] >= 1


def test_filters_narrow_the_queue(
    client: TestClient, accounts: dict[str, Account], alerts: list[SeededAlert]
) -> None:
    headers = accounts["vera"].headers
    by_customer = client.get("/api/alerts", params={"customer_id": "c1"}, headers=headers).json()
    assert {a["customer_id"] for a in by_customer["alerts"]} == {"c1"}
    assert len(by_customer["alerts"]) == sum(a.customer_id == "c1" for a in alerts)
    high = client.get("/api/alerts", params={"min_score": 0.9}, headers=headers).json()
    assert high["alerts"]
    assert all(a["fraud_score"] >= 0.9 for a in high["alerts"])
    none = client.get("/api/alerts", params={"rule": "FR-008"}, headers=headers).json()
    assert none["alerts"] == []


def test_an_alert_with_its_evidence(
    client: TestClient, accounts: dict[str, Account], alerts: list[SeededAlert]
) -> None:
    target = alerts[3]
    answer = client.get(f"/api/alerts/{target.alert_id}", headers=accounts["vera"].headers)
    assert answer.status_code == 200
    body = answer.json()
    assert body["transaction_id"] == target.transaction_id
    assert body["evidence"]["rule_details"]["FR-001"]["amount"] == 1503
    assert body["transaction"]["store_id"] == target.store_id
    assert body["history"] == []


def test_mistakes_get_their_status(
    client: TestClient, accounts: dict[str, Account], alerts: list[SeededAlert]
) -> None:
    analyst = accounts["ana"].headers
    unknown = uuid.uuid4()
    assert client.get(f"/api/alerts/{unknown}", headers=analyst).status_code == 404
    missing = client.post(
        f"/api/alerts/{unknown}/verdict", json={"label": "fraud"}, headers=analyst
    )
    assert missing.status_code == 404
    target = f"/api/alerts/{alerts[0].alert_id}/verdict"
    for body in ({"label": "maybe"}, {}, {"label": "fraud", "note": "x" * 5000}):
        answer = client.post(target, json=body, headers=analyst)
        assert answer.status_code == 422, body
        assert "x" * 300 not in answer.text  # the input is not echoed back
    assert client.post(target, content=b"{not json", headers=analyst).status_code == 422
    assert client.get("/api/alerts/not-a-uuid", headers=analyst).status_code == 422
    assert client.get("/api/alerts", params={"cursor": "zzz"}, headers=analyst).status_code == 422
    assert client.get("/api/alerts", params={"limit": 0}, headers=analyst).status_code == 422


def test_a_viewer_cannot_act(
    client: TestClient, accounts: dict[str, Account], alerts: list[SeededAlert]
) -> None:
    viewer = accounts["vera"].headers
    target = alerts[1].alert_id
    assert (
        client.post(
            f"/api/alerts/{target}/verdict", json={"label": "fraud"}, headers=viewer
        ).status_code
        == 403
    )
    assert client.post("/api/alerts/take-next", headers=viewer).status_code == 403
    assert (
        client.post(
            f"/api/alerts/{target}/comment", json={"note": "hi"}, headers=viewer
        ).status_code
        == 403
    )


def test_a_verdict_commits_case_event_feedback_and_outbox_together(
    client: TestClient,
    accounts: dict[str, Account],
    alerts: list[SeededAlert],
    warehouse_dsn: str,
) -> None:
    target = alerts[5]
    answer = client.post(
        f"/api/alerts/{target.alert_id}/verdict",
        json={"label": "fraud", "note": "card reported stolen"},
        headers=accounts["ana"].headers,
    )
    assert answer.status_code == 200, answer.text
    event = answer.json()
    assert (event["kind"], event["label"], event["actor"]) == ("verdict", "fraud", "ana")
    with psycopg.connect(warehouse_dsn) as connection:
        feedback = connection.execute(
            "SELECT transaction_id, customer_id, store_id, label, source FROM silver.feedback "
            "WHERE feedback_id = %s",
            (event["feedback_id"],),
        ).fetchone()
        outbox = connection.execute(
            "SELECT topic, key, payload, sent_at FROM console.outbox WHERE feedback_id = %s",
            (event["feedback_id"],),
        ).fetchone()
        status = connection.execute(
            "SELECT status FROM console.alert_cases WHERE alert_id = %s", (target.alert_id,)
        ).fetchone()
    assert feedback == (
        target.transaction_id,
        target.customer_id,
        target.store_id,
        "fraud",
        "console",
    )
    assert outbox is not None
    assert outbox[:2] == (TOPIC, target.customer_id)
    assert outbox[2]["feedback_id"] == event["feedback_id"]
    assert outbox[2]["label"] == "fraud"
    assert outbox[3] is None
    assert status == ("confirmed",)
    detail = client.get(f"/api/alerts/{target.alert_id}", headers=accounts["vera"].headers).json()
    assert detail["status"] == "confirmed"
    assert [e["kind"] for e in detail["history"]] == ["verdict"]


def test_only_a_supervisor_changes_a_decided_alert(
    client: TestClient,
    accounts: dict[str, Account],
    alerts: list[SeededAlert],
    warehouse_dsn: str,
) -> None:
    target = f"/api/alerts/{alerts[6].alert_id}"
    analyst, supervisor = accounts["ana"].headers, accounts["sofia"].headers
    assert (
        client.post(f"{target}/verdict", json={"label": "genuine"}, headers=analyst).status_code
        == 200
    )
    again = client.post(f"{target}/verdict", json={"label": "fraud"}, headers=analyst)
    assert again.status_code == 403
    assert client.post(f"{target}/reopen", json={}, headers=analyst).status_code == 403
    later = client.post(f"{target}/verdict", json={"label": "fraud"}, headers=supervisor)
    assert later.status_code == 200
    with psycopg.connect(warehouse_dsn) as connection:
        labels = connection.execute(
            "SELECT label FROM silver.feedback WHERE transaction_id = %s "
            "ORDER BY reported_at DESC, label DESC",
            (alerts[6].transaction_id,),
        ).fetchall()
    assert labels[0] == ("fraud",)  # the latest report is the one in force
    assert len(labels) == 2
    assert (
        client.post(f"{target}/reopen", json={"note": "recheck"}, headers=supervisor).status_code
        == 200
    )
    assert client.get(target, headers=analyst).json()["status"] == "open"


def test_assign_escalate_and_comment(
    client: TestClient, accounts: dict[str, Account], alerts: list[SeededAlert]
) -> None:
    target = f"/api/alerts/{alerts[7].alert_id}"
    ana, bruno, sofia = (accounts[name].headers for name in ("ana", "bruno", "sofia"))
    assert client.post(f"{target}/assign", json={"assignee": "ana"}, headers=ana).status_code == 200
    assert (
        client.post(f"{target}/assign", json={"assignee": "bruno"}, headers=ana).status_code == 403
    )
    assert (
        client.post(f"{target}/assign", json={"assignee": "bruno"}, headers=bruno).status_code
        == 409
    )
    assert (
        client.post(f"{target}/assign", json={"assignee": None}, headers=bruno).status_code == 403
    )
    assert (
        client.post(f"{target}/assign", json={"assignee": "vera"}, headers=sofia).status_code == 422
    )
    assert (
        client.post(f"{target}/assign", json={"assignee": "bruno"}, headers=sofia).status_code
        == 200
    )
    assert client.post(f"{target}/escalate", json={"note": "big"}, headers=bruno).status_code == 200
    assert client.post(f"{target}/escalate", json={}, headers=bruno).status_code == 409
    assert client.post(f"{target}/comment", json={"note": " "}, headers=bruno).status_code == 422
    assert (
        client.post(f"{target}/comment", json={"note": "<b>hi</b>"}, headers=bruno).status_code
        == 200
    )
    detail = client.get(target, headers=ana).json()
    assert (detail["status"], detail["assignee"]) == ("escalated", "bruno")
    kinds = [(e["kind"], e["actor"], e["assignee"]) for e in detail["history"]]
    assert kinds == [
        ("assigned", "ana", "ana"),
        ("assigned", "sofia", "bruno"),
        ("escalated", "bruno", None),
        ("comment", "bruno", None),
    ]


def test_bulk_verdicts_are_for_supervisors(
    client: TestClient, accounts: dict[str, Account], warehouse_dsn: str
) -> None:
    seed_alerts(warehouse_dsn, 12, prefix="bulk", store_id="s-bulk")
    body = {"label": "genuine", "store_id": "s-bulk", "note": "store test run"}
    assert (
        client.post(
            "/api/alerts/bulk-verdict", json=body, headers=accounts["ana"].headers
        ).status_code
        == 403
    )
    answer = client.post("/api/alerts/bulk-verdict", json=body, headers=accounts["sofia"].headers)
    assert answer.json() == {"decided": 12}
    left = client.get(
        "/api/alerts",
        params={"store_id": "s-bulk", "status": "all"},
        headers=accounts["ana"].headers,
    ).json()
    assert {a["status"] for a in left["alerts"]} == {"dismissed"}
    assert left["counts"]["dismissed"] == 12
    with psycopg.connect(warehouse_dsn) as connection:
        outbox = connection.execute(
            "SELECT count(*) FROM console.outbox o JOIN silver.feedback f USING (feedback_id) "
            "WHERE f.store_id = 's-bulk'"
        ).fetchone()
    assert outbox == (12,)


def test_the_openapi_document_describes_the_contract(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    document = client.get("/api/openapi.json", headers=accounts["vera"].headers).json()
    paths = document["paths"]
    assert {"/api/alerts", "/api/alerts/{alert_id}", "/api/alerts/{alert_id}/verdict"} <= set(paths)
    assert not any(path.startswith(("/login", "/queue")) for path in paths)


def test_filtered_counts_stop_at_the_cap(
    client: TestClient,
    accounts: dict[str, Account],
    alerts: list[SeededAlert],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import console.queue

    monkeypatch.setattr(console.queue, "COUNT_CAP", 3)
    headers = accounts["vera"].headers
    capped = client.get("/api/alerts", params={"rule": "FR-001"}, headers=headers).json()
    assert capped["counts"]["open"] == 4  # more than 3
    exact = client.get("/api/alerts", headers=headers).json()
    assert exact["counts"]["open"] > 4  # the kept counters are exact
