"""Running the project's DAGs for real from the pipeline's test suite.

A DAG runs in Airflow's own interpreter (``scripts/airflow.sh python tests/airflow/run_dag.py``,
``dag.test()``), against a scratch warehouse given through the ``streamflow_warehouse``
connection; the result comes back as the JSON document ``run_dag.py`` prints.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(ROOT / "scripts" / "airflow.sh")


def connection_uri(dsn: str) -> str:
    """An Airflow connection is a URI; a scratch database's DSN is key=value pairs."""
    parts = conninfo_to_dict(dsn)
    return f"postgresql://{parts['user']}@{parts['host']}:{parts['port']}/{parts['dbname']}"


def airflow_python(
    arguments: list[str], dsn: str, environment: dict[str, str] | None = None, timeout: float = 900
) -> dict[str, Any]:
    """Runs a script in Airflow's interpreter with the warehouse connection on ``dsn``; the
    JSON document it printed last."""
    done = subprocess.run(
        [AIRFLOW, "python", *arguments],
        cwd=ROOT,
        env={
            **os.environ,
            "AIRFLOW_CONN_STREAMFLOW_WAREHOUSE": connection_uri(dsn),
            **(environment or {}),
        },
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_dag(
    dag_id: str,
    logical_date: datetime,
    dsn: str,
    conf: dict[str, Any] | None = None,
    environment: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``dag.test()`` of one DAG: its state, data interval, task states and deadlines."""
    arguments = [
        "tests/airflow/run_dag.py",
        dag_id,
        logical_date.isoformat(),
        json.dumps(conf or {}),
    ]
    report = airflow_python(arguments, dsn, environment)
    assert report["import_errors"] == {}, report["import_errors"]
    assert report.get("tasks"), f"no task ran (a logical date before the DAG's start?): {report}"
    return report


def assert_run(
    report: dict[str, Any], state: str = "success", tasks: dict[str, str] | None = None
) -> None:
    """The run ended in ``state`` (and its tasks in ``tasks``, when given); otherwise the
    assertion says why, with what each failed task logged last."""
    assert report["state"] == state, explained(report)
    if tasks is not None:
        assert task_states(report) == tasks, explained(report)


def explained(report: dict[str, Any]) -> str:
    """A run's outcome for a human: its state, its tasks' and each failed task's log tail.
    (A report as an assertion message would be cut to its first 240 characters.)"""
    lines = [f"run {report.get('state')}: {task_states(report)}"]
    for task, log in report.get("failed_task_logs", {}).items():
        lines += [f"--- {task} failed; its last {len(log)} log lines:", *log]
    return "\n".join(lines)


def task_states(report: dict[str, Any]) -> dict[str, str]:
    """Task id (with ``[map index]`` for mapped ones) → state."""
    return {
        task_id if index < 0 else f"{task_id}[{index}]": state
        for task_id, index, state in report["tasks"]
    }


def ops_events(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as connection:
        return connection.execute(
            "SELECT kind, severity, dag_id, task_id, message, details FROM silver.ops_events "
            "ORDER BY event_id"
        ).fetchall()
