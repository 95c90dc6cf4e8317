"""The data_quality DAG, run for real: ``dag.test()`` in Airflow's own interpreter against a
scratch warehouse in the project's PostgreSQL, over a seeded 15-minute interval.

Clean rows: every check task succeeds and stores its result. Rows without coordinates: the
null-rate task fails (and only it), without a retry, and notifies; the others still succeed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from pipelines.warehouse.quality import CHECKS
from tests.airflow.dag_runs import assert_run, ops_events, run_dag
from tests.warehouse.rows import insert_clean_transaction

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

LOGICAL_DATE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# A manual run checks the last complete quarter hour before its logical date.
INTERVAL = (LOGICAL_DATE - timedelta(minutes=15), LOGICAL_DATE)


def _seed(dsn: str, start: datetime, end: datetime, count: int, located: bool, prefix: str) -> None:
    step = (end - start) / count
    with psycopg.connect(dsn) as connection:
        for i in range(count):
            insert_clean_transaction(
                connection,
                f"{prefix}{i}",
                f"c{i}",
                str(25 + i),
                start + step * i,
                end - timedelta(minutes=1),
                located=located,
            )


def _run_dag(dsn: str, run_conf: dict[str, Any] | None = None) -> dict[str, Any]:
    return run_dag("data_quality", LOGICAL_DATE, dsn, run_conf)


def _interval(report: dict[str, Any]) -> tuple[datetime, datetime]:
    start, end = (datetime.fromisoformat(moment) for moment in report["data_interval"])
    return start, end


def _stored(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "SELECT check_name, status FROM silver.quality_check_results"
        ).fetchall()
    return dict(rows)


def test_one_task_per_check_and_all_pass_on_clean_rows(warehouse: str) -> None:
    _seed(warehouse, *INTERVAL, 60, located=True, prefix="ok")
    report = _run_dag(warehouse)
    assert _interval(report) == INTERVAL
    assert_run(report)
    assert [task[:2] for task in report["tasks"]] == [
        ["run_check", index] for index in range(len(CHECKS))
    ]
    assert _stored(warehouse) == dict.fromkeys(CHECKS, "pass")


def test_a_failing_check_fails_its_task_only(warehouse: str) -> None:
    _seed(warehouse, *INTERVAL, 20, located=True, prefix="ok")
    _seed(warehouse, *INTERVAL, 40, located=False, prefix="blind")
    report = _run_dag(warehouse)
    assert_run(report, "failed")
    failed = [task for task in report["tasks"] if task[2] == "failed"]
    assert [task[1] for task in failed] == [sorted(CHECKS).index("null_rate")]
    assert _stored(warehouse)["null_rate"] == "fail"
    # The failure notified once (no retry of a measured failure), with the check's result.
    events = ops_events(warehouse)
    assert [(kind, severity, dag, task) for kind, severity, dag, task, *_ in events] == [
        ("task_failed", "error", "data_quality", "run_check")
    ]
    assert '"status": "fail"' in events[0][5]["exception"]
    # A threshold given as a param turns the same measurement (2 in 3 rows blind) into a
    # warning, which passes its task.
    relaxed = {"thresholds": {"null_rate": {"warn": 0.5, "fail": 0.95}}}
    assert_run(_run_dag(warehouse, relaxed))
    with psycopg.connect(warehouse) as connection:
        latest = connection.execute(
            "SELECT status FROM silver.quality_check_results WHERE check_name = 'null_rate' "
            "ORDER BY check_id DESC LIMIT 1"
        ).fetchone()
    assert latest == ("warn",)
