"""dlq_monitor: the dead-letter rate every 5 minutes, and a notification when it is high.

``python -m pipelines.warehouse dlq-report`` measures the run's data interval from
``bronze.dlq_events``: the rate (dead letters over input records) and the commonest error types
with sample ``dlq_id``s. At or above ``rate_threshold``, with at least ``min_input_records``
inputs (two bad lines out of three are noise, not an incident), the ``alert`` task notifies
(log, ``silver.ops_events``, the webhook) with the error types and samples. A high rate is an
incident in the data, not a failure of this DAG: the run succeeds either way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, task
from streamflow_notify import send
from streamflow_tasks import DEFAULT_ARGS, run_pipeline_command

with DAG(
    dag_id="dlq_monitor",
    description="Dead-letter rate and top error types every 5 minutes; notifies above a threshold",
    schedule=CronDataIntervalTimetable("*/5 * * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "rate_threshold": Param(0.05, type="number", minimum=0, maximum=1),
        "min_input_records": Param(20, type="integer", minimum=0),
        "top_error_types": Param(5, type="integer", minimum=1),
    },
    tags=["streamflow", "dlq", "monitoring"],
) as dag:

    @task
    def measure(**context: Any) -> dict[str, Any]:
        arguments = ["dlq-report", "--top", str(context["params"]["top_error_types"])]
        arguments += ["--since", context["data_interval_start"].isoformat()]
        arguments += ["--until", context["data_interval_end"].isoformat()]
        report: dict[str, Any] = run_pipeline_command("pipelines.warehouse", arguments)
        return report

    @task
    def alert(report: dict[str, Any], **context: Any) -> bool:
        params = context["params"]
        high = (
            report["input_records"] >= params["min_input_records"]
            and report["dlq_rate"] >= params["rate_threshold"]
        )
        if high:
            top = ", ".join(
                f"{entry['error_type']} ({entry['dead_letters']})"
                for entry in report["top_error_types"]
            )
            send(
                "dlq_rate_high",
                "warning",
                f"DLQ rate {report['dlq_rate']:.1%} of {report['input_records']} input records "
                f"from {report['since']} to {report['until']}: {top}",
                report,
                dag_id=context["dag"].dag_id,
                run_id=context["run_id"],
                task_id=context["ti"].task_id,
            )
        return high

    alert(measure())
