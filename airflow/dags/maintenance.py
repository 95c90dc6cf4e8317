"""maintenance: the warehouse's housekeeping, daily.

Partition retention for each bronze table in parallel (one task per table: a lock on one never
holds up the others), then pruning of the result tables (quality results, orchestration
events), then ``VACUUM (ANALYZE)`` of everything they touched. Retention is measured against
the end of the run's data interval, so a re-run of a past day drops what that day would have.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import (
    DAG,
    CronDataIntervalTimetable,
    task,
)
from streamflow_notify import alert_when_late
from streamflow_tasks import DEFAULT_ARGS, run_pipeline_command

# pipelines.warehouse.maintain.PARTITION_RETENTION_DAYS
RETAINED_TABLES = ("bronze.raw_transactions", "bronze.fraud_alerts", "bronze.dlq_events")


def maintain(step: list[str], context: Any) -> dict[str, Any]:
    now = ["--now", context["data_interval_end"].isoformat()]
    report: dict[str, Any] = run_pipeline_command("pipelines.warehouse", ["maintain", *now, *step])
    return report


with DAG(
    dag_id="maintenance",
    description="Partition retention, result pruning and VACUUM (ANALYZE), daily",
    schedule=CronDataIntervalTimetable("30 3 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    deadline=alert_when_late("maintenance", timedelta(hours=2), "2 hours"),
    tags=["streamflow", "warehouse", "maintenance"],
) as dag:

    @task(map_index_template="{{ task.op_kwargs['table'] }}")
    def retention(table: str, **context: Any) -> dict[str, Any]:
        return maintain(["--retention", table], context)

    @task
    def prune(**context: Any) -> dict[str, Any]:
        return maintain(["--prune"], context)

    @task
    def vacuum(**context: Any) -> dict[str, Any]:
        return maintain(["--vacuum"], context)

    retention.expand(table=list(RETAINED_TABLES)) >> prune() >> vacuum()
