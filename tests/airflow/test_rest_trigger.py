"""The running Airflow (scripts/airflow.sh: api-server, scheduler, dag-processor, triggerer)
executes data_quality when the REST API triggers it: every check task runs under the
scheduler's LocalExecutor against the warehouse of the streamflow_warehouse connection, the
run succeeds, and its Deadline Alert, set to one second for this test through its Airflow
Variable, is missed and reported by the triggerer through the notifier."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from pipelines.warehouse.quality import CHECKS
from pipelines.warehouse.scratch import scratch_database
from tests.airflow.dag_runs import AIRFLOW, ROOT, connection_uri, ops_events
from tests.warehouse.rows import insert_clean_transaction

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_ID = "data_quality"


def _airflow(command: str, environment: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [AIRFLOW, command],
        cwd=ROOT,
        env={**os.environ, **(environment or {})},
        capture_output=True,
        text=True,
        timeout=900,
    )
    # The script's own account (which service, its log's tail) is the failure's message.
    assert done.returncode == 0, f"airflow.sh {command} exited {done.returncode}:\n{done.stderr}"
    return done.stdout.strip()


def _call(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _wait(what: str, check: Any, timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def airflow_on_a_seeded_warehouse(server_dsn: str) -> Iterator[tuple[str, str]]:
    """Airflow restarted with its warehouse connection on a scratch warehouse holding fresh
    clean rows in the quarter hour before now, and a one-second deadline; restarted as
    configured by default afterwards, the DAG paused again."""
    with scratch_database(server_dsn) as dsn:
        now = datetime.now(UTC)
        quarter_end = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
        with psycopg.connect(dsn) as connection:
            for i in range(30):
                at = quarter_end - timedelta(minutes=14, seconds=-20 * i)
                insert_clean_transaction(connection, f"t{i}", f"c{i}", "20.00", at, at)
        environment = {
            "AIRFLOW_CONN_STREAMFLOW_WAREHOUSE": connection_uri(dsn),
            "AIRFLOW_VAR_STREAMFLOW_DATA_QUALITY_DEADLINE_SECONDS": "1",
        }
        _airflow("stop")
        restarted = datetime.now(UTC)
        _airflow("start", environment)
        url = _airflow("url")
        try:

            def parsed_since_restart() -> bool:
                dag = _call(f"{url}/api/v2/dags/{DAG_ID}")
                parsed = dag.get("last_parsed_time")
                return bool(parsed) and datetime.fromisoformat(parsed) >= restarted

            _wait("the dag-processor to parse the DAG folder", parsed_since_restart)
            _call(f"{url}/api/v2/dags/{DAG_ID}", "PATCH", {"is_paused": False})
            yield url, dsn
        finally:
            _call(f"{url}/api/v2/dags/{DAG_ID}", "PATCH", {"is_paused": True})
            _airflow("stop")
            _airflow("start")


def test_a_run_triggered_through_the_rest_api_succeeds_and_its_missed_deadline_notifies(
    airflow_on_a_seeded_warehouse: tuple[str, str],
) -> None:
    url, dsn = airflow_on_a_seeded_warehouse
    run = _call(
        f"{url}/api/v2/dags/{DAG_ID}/dagRuns",
        "POST",
        {"logical_date": datetime.now(UTC).isoformat(), "conf": {}},
    )
    run_url = f"{url}/api/v2/dags/{DAG_ID}/dagRuns/{urllib.request.quote(run['dag_run_id'])}"

    def finished() -> str | None:
        state = _call(run_url)["state"]
        return state if state in ("success", "failed") else None

    assert _wait("the run to finish", finished) == "success"
    instances = _call(f"{run_url}/taskInstances")["task_instances"]
    assert sorted((ti["task_id"], ti["state"]) for ti in instances) == [
        ("run_check", "success")
    ] * len(CHECKS)
    with psycopg.connect(dsn) as connection:
        stored = connection.execute(
            "SELECT check_name, status FROM silver.quality_check_results"
        ).fetchall()
    assert dict(stored) == dict.fromkeys(CHECKS, "pass")
    # The run took longer than its one-second deadline: the triggerer ran the callback.
    missed = _wait(
        "the missed deadline's notification",
        lambda: [event for event in ops_events(dsn) if event[0] == "deadline_missed"],
    )
    assert missed[0][1:3] == ("warning", DAG_ID)
