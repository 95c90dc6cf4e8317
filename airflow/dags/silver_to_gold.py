"""silver_to_gold: the warehouse refresh every hour, one task per table it writes.

Late alerts first, then the dimensions (silver's customers, stores and products, then gold's
dimensions), the facts, the aggregates: each a task running ``python -m pipelines.warehouse
refresh --object TABLE`` from the end of the last successful run's interval (else this
run's start) to this run's end, widened by ``lookback_minutes``: hours a paused DAG, an outage
or a run that failed for good skipped are refreshed by the next success (``catchup`` stays
off), and a row stamped just before the previous end but committed after that run read it is
read again (every step is idempotent, so reading twice changes nothing). A failure is
visible, and retried, per table.

Each task is its own transaction, so the tasks no longer share the one snapshot of ``refresh``
without ``--object``. What that snapshot guaranteed still holds: a fact load infers the
dimension members a later sink commit added (``sql/transforms/gold/infer_missing_members.sql``),
so no fact is dropped, and the buckets corrected facts leave wait in tables until the
aggregate tasks consume them. ``tests/warehouse/test_refresh.py`` proves both.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import (
    DAG,
    CronDataIntervalTimetable,
    Param,
    TaskGroup,
    task,
)
from streamflow_notify import alert_when_late
from streamflow_tasks import DEFAULT_ARGS, run_pipeline_command

# The tables of pipelines.warehouse.refresh.OBJECTS, by group; within dimensions, a gold
# dimension waits for the silver table it is read from.
DIMENSION_SOURCES = {
    "gold.dim_customer": "silver.customers",
    "gold.dim_store": "silver.stores",
    "gold.dim_product": "silver.products",
    "gold.dim_date": None,
}
FACTS = ("gold.fact_transactions", "gold.fact_fraud_alerts")
AGGREGATES = ("gold.agg_hourly_sales", "gold.agg_daily_fraud")


def task_id(table: str) -> str:
    return table.replace(".", "_")


with DAG(
    dag_id="silver_to_gold",
    description="Silver dimensions and the gold star schema, hour by hour, one task per table",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    deadline=alert_when_late("silver_to_gold", timedelta(minutes=45), "45 minutes"),
    params={
        "lookback_minutes": Param(
            15, type="integer", minimum=1, description="How far before the interval to reread."
        )
    },
    tags=["streamflow", "warehouse"],
) as dag:

    @task
    def refresh_table(table: str, **context: Any) -> dict[str, int]:
        lookback = timedelta(minutes=int(context["params"]["lookback_minutes"]))
        start = context["data_interval_start"]
        previous_end = context.get("prev_data_interval_end_success")
        since = min(start, previous_end or start) - lookback
        arguments = ["refresh", "--object", table, "--since", since.isoformat()]
        arguments += ["--until", context["data_interval_end"].isoformat()]
        changed: dict[str, int] = run_pipeline_command("pipelines.warehouse", arguments)
        return changed

    def refresh(table: str) -> Any:
        return refresh_table.override(task_id=task_id(table))(table)

    late_alerts = refresh("silver.late_alerts")
    with TaskGroup("dimensions") as dimensions:
        for dimension, source in DIMENSION_SOURCES.items():
            if source is None:
                refresh(dimension)
            else:
                refresh(source) >> refresh(dimension)
    with TaskGroup("facts") as facts:
        for fact in FACTS:
            refresh(fact)
    with TaskGroup("aggregates") as aggregates:
        for aggregate in AGGREGATES:
            refresh(aggregate)
    late_alerts >> dimensions >> facts >> aggregates
