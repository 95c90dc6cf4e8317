"""data_quality: the warehouse's data-quality checks every 15 minutes, one task per check.

Each check is a SQL file ``sql/quality/check_<name>.sql``; the tasks are mapped over those
files (dynamic task mapping), so a new check file is a new task without touching this DAG. A
task runs ``python -m pipelines.warehouse quality --check <name>`` over the run's data interval
with the pipeline's own interpreter (this Airflow's virtualenv has another Beam): the command
stores the result in ``silver.quality_check_results`` and exits non-zero on ``fail``, which
fails the task; ``warn`` passes. Thresholds are params: ``{"thresholds": {"null_rate":
{"warn": 0.05, "fail": 0.2}}}`` in a manual run's configuration overrides the defaults.

The warehouse DSN comes from the Airflow connection ``streamflow_warehouse`` and reaches the
command through its environment, never its arguments (task logs show those).
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, BaseHook, Param, task
from airflow.sdk.exceptions import AirflowFailException
from airflow.timetables.interval import CronDataIntervalTimetable

REPO = Path(__file__).resolve().parents[2]
PIPELINE_PYTHON = os.environ.get(
    "STREAMFLOW_PIPELINE_PYTHON", str(REPO / ".venv" / "bin" / "python")
)
WAREHOUSE_CONNECTION = "streamflow_warehouse"


def check_names() -> list[str]:
    """The checks, from the SQL files' names: listing one folder, no other work at import."""
    return sorted(
        path.stem.removeprefix("check_") for path in (REPO / "sql" / "quality").glob("check_*.sql")
    )


with DAG(
    dag_id="data_quality",
    description="Data-quality checks of the warehouse over each 15-minute interval",
    # Data intervals (Airflow 3's plain cron and timedelta schedules have none): each run checks
    # the quarter hour that just ended, and a manual run the last complete one.
    schedule=CronDataIntervalTimetable("*/15 * * * *", timezone="UTC"),
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "streamflow",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
    },
    params={
        "thresholds": Param(
            {},
            type="object",
            description='Per check, e.g. {"null_rate": {"warn": 0.05, "fail": 0.2}}; '
            "unset: the command's defaults.",
        )
    },
    tags=["streamflow", "warehouse", "quality"],
) as dag:

    @task(map_index_template="{{ task.op_kwargs['check'] }}")
    def run_check(check: str, **context: Any) -> dict[str, Any]:
        interval_start, interval_end = context["data_interval_start"], context["data_interval_end"]
        command = [PIPELINE_PYTHON, "-m", "pipelines.warehouse", "quality", "--check", check]
        command += ["--since", interval_start.isoformat(), "--until", interval_end.isoformat()]
        limits = (context["params"].get("thresholds") or {}).get(check, {})
        for level in ("warn", "fail"):
            if level in limits:
                command += [f"--{level}", str(limits[level])]
        dsn = BaseHook.get_connection(WAREHOUSE_CONNECTION).get_uri()
        done = subprocess.run(
            command,
            cwd=REPO,
            env={**os.environ, "STREAMFLOW_PG_DSN": dsn},
            capture_output=True,
            text=True,
            timeout=600,
        )
        lines = done.stdout.strip().splitlines()
        if not lines:  # the command did not get as far as a result: let the retries try again
            raise RuntimeError(
                f"quality check {check} printed nothing: {done.stderr.strip()[-2000:]}"
            )
        result: dict[str, Any] = json.loads(lines[-1])
        if done.returncode != 0:
            # A measured failure is not transient: no retry.
            raise AirflowFailException(f"quality check {check} failed: {json.dumps(result)}")
        return result

    run_check.expand(check=check_names())
