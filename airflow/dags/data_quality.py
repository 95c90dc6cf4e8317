"""data_quality: the warehouse's data-quality checks every 15 minutes, one task per check.

Each check is a SQL file ``sql/quality/check_<name>.sql``; the tasks are mapped over those
files (dynamic task mapping), so a new check file is a new task without touching this DAG. A
task runs ``python -m pipelines.warehouse quality --check <name>`` over the run's data interval
with the pipeline's own interpreter: the command stores the result in
``silver.quality_check_results`` and exits with its own status on ``fail``, which fails the task
without a retry (a retry would measure the same) and notifies; ``warn`` passes. Thresholds are
params: ``{"thresholds": {"null_rate": {"warn": 0.05, "fail": 0.2}}}`` in a manual run's
configuration overrides the defaults.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import (
    DAG,
    CronDataIntervalTimetable,
    Param,
    task,
)
from airflow.sdk.definitions.deadline import VariableInterval
from streamflow_notify import alert_when_late
from streamflow_tasks import DEFAULT_ARGS, REPO, run_pipeline_command

# pipelines.warehouse.quality.CHECK_FAILED: the command measured a failure.
CHECK_FAILED = 3
DEADLINE_VARIABLE = "streamflow_data_quality_deadline_seconds"


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
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    # A run should finish well within its quarter hour. The limit is an Airflow Variable
    # (seconds; scripts/airflow.sh sets 600 unless AIRFLOW_VAR_... says otherwise), so an
    # operator tunes it without a deploy, and a test can make it miss.
    deadline=alert_when_late(
        "data_quality", VariableInterval(DEADLINE_VARIABLE), DEADLINE_VARIABLE
    ),
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
        arguments = ["quality", "--check", check]
        arguments += ["--since", context["data_interval_start"].isoformat()]
        arguments += ["--until", context["data_interval_end"].isoformat()]
        limits = (context["params"].get("thresholds") or {}).get(check, {})
        for level in ("warn", "fail"):
            if level in limits:
                arguments += [f"--{level}", str(limits[level])]
        result: dict[str, Any] = run_pipeline_command(
            "pipelines.warehouse", arguments, fail_fast_on=(CHECK_FAILED,)
        )
        return result

    run_check.expand(check=check_names())
