"""The versions pages against a real PostgreSQL, broker and backtest: a supervisor backtests a
candidate on archived history, reads what it would have done, and promotes it with an
effective time (registered, audited, published to the rules topic); everyone else is refused,
and so is every candidate the job would refuse."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from console.settings import Settings
from console.web import create_app
from pipelines.rules.registration import GRACE_VARIABLE
from pipelines.synthetic import generate_dataset
from pipelines.synthetic.archive import archive_file, write_feedback_archive
from tests.console.conftest import TOPIC, Account
from tests.console.relay_check import read_topic
from tests.console.test_pages import csrf_of, logged_in
from tests.kafka.live import Topics
from transforms.domain.config import rules_from_text
from transforms.domain.rules_registry import RulesChange, parse_rules_change

pytestmark = pytest.mark.kafka

LOWER = "alert_threshold: 0.45\n"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("versions")
    data = generate_dataset(
        str(folder / "data"), seed=9, customers=120, days=6, feedback_delay_days=1
    )
    archive_file(data.events, str(folder / "archive"))
    write_feedback_archive(Path(data.feedback).read_bytes().splitlines(), folder / "feedback")
    return {"archive": str(folder / "archive"), "feedback": str(folder / "feedback")}


@pytest.fixture
def versions_settings(
    console_dsn: str,
    accounts: dict[str, Account],
    history: dict[str, str],
    bootstrap_servers: str,
    topics: Topics,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    """A console that runs backtests on the history and promotes to this test's topic, with a
    grace of 30 s."""
    monkeypatch.setenv(GRACE_VARIABLE, "30")
    return Settings(
        dsn=console_dsn,
        kafka_bootstrap=bootstrap_servers,
        feedback_topic=TOPIC,
        archive=history["archive"],
        feedback_archive=history["feedback"],
        backtest_dir=str(tmp_path / "backtests"),
        rules_topic=topics.rules,
    )


@pytest.fixture
def versions_client(versions_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(versions_settings)) as test_client:
        yield test_client


def _request(client: TestClient, rules: str, start: str, end: str) -> tuple[int, str]:
    page = client.get("/versions")
    answer = client.post(
        "/versions/backtests",
        data={
            "csrf_token": csrf_of(page.text),
            "rules": rules,
            "from": start,
            "to": end,
            "note": "lower for the campaign",
        },
        follow_redirects=False,
    )
    return answer.status_code, answer.headers.get("location", answer.text)


def _finished(client: TestClient, path: str, timeout_s: float = 300) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page = client.get(path)
        status = re.search(r'<b id="status">(\w+)</b>', page.text)
        assert status, page.text[:2000]
        if status.group(1) in ("done", "failed"):
            return page.text
        time.sleep(1)
    raise AssertionError(f"{path} did not finish in {timeout_s} s")


def test_a_supervisor_backtests_a_candidate_and_promotes_it_with_an_effective_time(
    versions_client: TestClient,
    warehouse_dsn: str,
    bootstrap_servers: str,
    topics: Topics,
) -> None:
    client = logged_in(versions_client, "sofia")
    status, location = _request(client, LOWER, "2026-10-03", "2026-10-05")
    assert status == 303, location
    page = _finished(client, location)
    assert '<b id="status">done</b>' in page, page[:3000]
    candidate_version = rules_from_text(LOWER).rules_version
    assert candidate_version in page
    gained = re.search(r"Alerts gained: <b>(\d+)</b>", page)
    assert gained
    assert int(gained.group(1)) > 0  # a lower threshold alerts more
    picture = client.get(f"{location}/alerts_per_day.png")
    assert picture.status_code == 200
    assert picture.content.startswith(b"\x89PNG")
    assert client.get(f"{location}/elsewhere.png").status_code == 404

    # Too soon: refused with the earliest time a running job can honour.
    soon = (datetime.now(UTC) + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S")
    promote = f"{location}/promote"
    refused = client.post(promote, data={"csrf_token": csrf_of(page), "effective_from": soon})
    assert refused.status_code == 422
    assert "sooner than the grace" in refused.text
    effective = re.search(r'name="effective_from" type="datetime-local" value="([^"]+)"', page)
    assert effective
    promoted = client.post(
        promote,
        data={"csrf_token": csrf_of(page), "effective_from": effective.group(1), "note": "go"},
        follow_redirects=False,
    )
    assert promoted.status_code == 303, promoted.text[:500]
    registration = int(promoted.headers["location"].rsplit("=", 1)[1])
    again = client.post(
        promote, data={"csrf_token": csrf_of(page), "effective_from": "2030-01-01T00:00"}
    )
    assert again.status_code == 409

    backtest_id = int(location.rsplit("/", 1)[1])
    with psycopg.connect(warehouse_dsn) as connection:
        row = connection.execute(
            "SELECT rules_version, author, note, backtest, role, published_at IS NOT NULL "
            "FROM silver.rules_registry WHERE registration_id = %s",
            (registration,),
        ).fetchone()
    assert row == (candidate_version, "sofia", "go", f"console:{backtest_id}", "champion", True)
    [record] = read_topic(bootstrap_servers, topics.rules, 1)
    change = parse_rules_change(record.value())
    assert isinstance(change, RulesChange)
    assert (change.rules_version, change.author, change.rules_text) == (
        candidate_version,
        "sofia",
        LOWER,
    )
    assert change.effective_from_ms == int(
        datetime.fromisoformat(effective.group(1)).replace(tzinfo=UTC).timestamp() * 1000
    )
    listed = client.get("/versions").text
    assert f'data-registration-id="{registration}"' in listed
    assert f"console:{backtest_id}" in listed


def test_a_backtest_over_days_not_archived_fails_with_the_reason(
    versions_client: TestClient,
) -> None:
    client = logged_in(versions_client, "sofia")
    status, location = _request(client, LOWER, "2025-01-01", "2025-01-02")
    assert status == 303
    page = _finished(client, location)
    assert '<b id="status">failed</b>' in page
    assert "no archived events for 2025-01-01" in page
    assert 'id="promote-form"' not in page


@pytest.mark.parametrize(
    ("rules", "start", "end", "status", "message"),
    [
        ("alert_threshold: [", "2026-10-03", "2026-10-05", 422, "not valid YAML"),
        ("inactivity_days: 10\n", "2026-10-03", "2026-10-05", 422, "changes what the kept state"),
        (LOWER, "2026-10-05", "2026-10-03", 422, "not before from"),
        (LOWER, "2026-09-01", "2026-10-05", 422, "at most 31 days"),
        (LOWER, "yesterday", "2026-10-05", 422, "not a date"),
    ],
)
def test_a_candidate_the_job_would_refuse_is_refused_in_one_line(
    versions_client: TestClient, rules: str, start: str, end: str, status: int, message: str
) -> None:
    client = logged_in(versions_client, "sofia")
    answer_status, answer = _request(client, rules, start, end)
    assert answer_status == status
    assert message in answer


def test_only_a_supervisor_sees_and_acts(
    versions_client: TestClient, accounts: dict[str, Account]
) -> None:
    for name in ("ana", "vera"):
        client = logged_in(versions_client, name)
        assert client.get("/versions").status_code == 403
        assert 'id="versions-link"' not in client.get("/queue").text
        queue = client.get("/queue")
        refused = client.post(
            "/versions/backtests",
            data={
                "csrf_token": csrf_of(queue.text),
                "rules": LOWER,
                "from": "2026-10-03",
                "to": "2026-10-04",
            },
        )
        assert refused.status_code == 403
        assert client.get("/versions/backtests/1").status_code == 403
        assert client.get("/versions/backtests/1/alerts_per_day.png").status_code == 403
        promote = client.post(
            "/versions/backtests/1/promote",
            data={"csrf_token": csrf_of(queue.text), "effective_from": "2030-01-01T00:00"},
        )
        assert promote.status_code == 403
        api = client.post(
            "/api/backtests/1/promote",
            json={"effective_from": "2030-01-01T00:00:00Z"},
            headers=accounts[name].headers,
        )
        assert api.status_code == 403
    versions_client.cookies.clear()
    assert versions_client.get("/versions", follow_redirects=False).status_code == 303


def test_the_api_backtests_and_promotes_for_a_supervisors_token(
    versions_client: TestClient,
    accounts: dict[str, Account],
    bootstrap_servers: str,
    topics: Topics,
) -> None:
    versions_client.cookies.clear()
    body = {"rules": LOWER, "from": "2026-10-04", "to": "2026-10-04", "note": "api"}
    assert versions_client.post("/api/backtests", json=body).status_code == 401
    analyst = versions_client.post("/api/backtests", json=body, headers=accounts["ana"].headers)
    assert analyst.status_code == 403
    sofia = accounts["sofia"].headers
    bad = versions_client.post("/api/backtests", json={**body, "from": "soon"}, headers=sofia)
    assert bad.status_code == 422
    queued = versions_client.post("/api/backtests", json=body, headers=sofia)
    assert queued.status_code == 202, queued.text
    backtest_id = queued.json()["backtest_id"]
    deadline = time.monotonic() + 300
    while (found := versions_client.get(f"/api/backtests/{backtest_id}", headers=sofia).json())[
        "status"
    ] in ("queued", "running"):
        assert time.monotonic() < deadline, found
        time.sleep(1)
    assert found["status"] == "done", found
    assert found["report"]["candidate"]["rules_version"] == rules_from_text(LOWER).rules_version
    effective = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    promoted = versions_client.post(
        f"/api/backtests/{backtest_id}/promote",
        json={"effective_from": effective, "role": "challenger"},
        headers=sofia,
    )
    assert promoted.status_code == 200, promoted.text
    [record] = read_topic(bootstrap_servers, topics.rules, 1)
    change = parse_rules_change(record.value())
    assert isinstance(change, RulesChange)
    assert (change.role, change.author) == ("challenger", "sofia")


def test_a_promotion_the_broker_refused_is_published_by_the_next(
    versions_client: TestClient,
    console_dsn: str,
    warehouse_dsn: str,
    bootstrap_servers: str,
    topics: Topics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A finished backtest, promoted while the console's broker is unreachable: the row is
    registered but unpublished (the jobs never see it), and promoting again publishes it."""
    from pipelines.rules import publish as publishing

    monkeypatch.setattr(publishing, "PUBLISH_TIMEOUT_S", 2)
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        row = connection.execute(
            "INSERT INTO console.backtests (requested_by, candidate_rules, candidate_version, "
            "from_day, to_day, status, report) SELECT user_id, %s, %s, '2026-10-03', "
            "'2026-10-03', 'done', '{}' FROM console.users WHERE name = 'sofia' "
            "RETURNING backtest_id",
            (LOWER, rules_from_text(LOWER).rules_version),
        ).fetchone()
    assert row is not None
    backtest_id = int(row[0])
    client = logged_in(versions_client, "sofia")
    page = client.get(f"/versions/backtests/{backtest_id}").text
    effective = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    form = {"csrf_token": csrf_of(page), "effective_from": effective}
    path = f"/versions/backtests/{backtest_id}/promote"
    app_state = versions_client.app.state  # type: ignore[attr-defined]
    reachable = app_state.settings
    app_state.settings = replace(reachable, kafka_bootstrap="127.0.0.1:9")  # nothing listens
    refused = client.post(path, data=form)
    assert refused.status_code == 502
    assert "promote again to publish it" in refused.text
    with psycopg.connect(warehouse_dsn) as connection:
        [(registration, published)] = connection.execute(
            "SELECT registration_id, published_at FROM silver.rules_registry WHERE backtest = %s",
            (f"console:{backtest_id}",),
        ).fetchall()
    assert published is None
    app_state.settings = reachable
    again = client.post(path, data=form, follow_redirects=False)
    assert again.status_code == 303, again.text[:500]
    assert again.headers["location"].endswith(f"={registration}")
    [record] = read_topic(bootstrap_servers, topics.rules, 1)
    assert record.key() == str(registration).encode()
    assert client.post(path, data=form).status_code == 409  # published: promoted once
