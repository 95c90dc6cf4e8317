"""The DAG folder as Airflow's dag-processor parses it: no import errors, and each DAG's
schedule, parameters, deadlines, task groups and dependencies as designed."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.warehouse.refresh import OBJECTS
from tests.airflow.dag_runs import airflow_python

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def dags(airflow_started: None) -> dict[str, Any]:
    # The warehouse connection points at a closed port: a DAG file that connected at import
    # would be an import error.
    report = airflow_python(
        ["tests/airflow/describe_dags.py"], "host=127.0.0.1 port=1 user=u dbname=d"
    )
    assert report["import_errors"] == {}
    result: dict[str, Any] = report["dags"]
    return result


def test_the_folder_holds_the_project_dags(dags: dict[str, Any]) -> None:
    assert set(dags) == {
        "data_quality",
        "dlq_monitor",
        "fraud_backfill",
        "maintenance",
        "model_retrain",
        "rules_backtest",
        "silver_to_gold",
    }


def test_every_task_retries_with_backoff_and_notifies_on_failure(dags: dict[str, Any]) -> None:
    for dag_id, dag in dags.items():
        assert dag["catchup"] is False, dag_id
        assert dag["max_active_runs"] == 1, dag_id
        assert "streamflow" in dag["tags"], dag_id
        for task_id, task in dag["tasks"].items():
            assert task["owner"] == "streamflow", (dag_id, task_id)
            assert task["retries"] >= 1, (dag_id, task_id)
            assert task["exponential_backoff"], (dag_id, task_id)
            assert task["on_failure"] == ["StreamFlowNotifier"], (dag_id, task_id)


def test_schedules_are_data_intervals(dags: dict[str, Any]) -> None:
    assert {dag_id: (dag["timetable"], dag["schedule"]) for dag_id, dag in dags.items()} == {
        "data_quality": ("CronDataIntervalTimetable", "*/15 * * * *"),
        "dlq_monitor": ("CronDataIntervalTimetable", "*/5 * * * *"),
        "maintenance": ("CronDataIntervalTimetable", "30 3 * * *"),
        "silver_to_gold": ("CronDataIntervalTimetable", "0 * * * *"),
        "fraud_backfill": ("NullTimetable", None),  # triggered by hand
        "rules_backtest": ("NullTimetable", None),
        "model_retrain": ("CronDataIntervalTimetable", "0 4 * * 1"),
    }


def test_deadline_alerts_replace_the_slas(dags: dict[str, Any]) -> None:
    deadlines = {dag_id: dag["deadlines"] for dag_id, dag in dags.items() if dag["deadlines"]}
    callback = "streamflow_notify.deadline_missed"
    assert deadlines == {
        "data_quality": [
            [
                "DagRunQueuedAtDeadline",
                "variable:streamflow_data_quality_deadline_seconds",
                callback,
            ]
        ],
        "maintenance": [["DagRunQueuedAtDeadline", 7200, callback]],
        "model_retrain": [["DagRunQueuedAtDeadline", 21600, callback]],
        "silver_to_gold": [["DagRunQueuedAtDeadline", 2700, callback]],
    }


def test_silver_to_gold_refreshes_every_table_in_its_group_and_order(
    dags: dict[str, Any],
) -> None:
    tasks = dags["silver_to_gold"]["tasks"]

    def task(table: str) -> str:
        group = (
            None
            if table == "silver.late_alerts"
            else "facts"
            if ".fact_" in table
            else "aggregates"
            if ".agg_" in table
            else "dimensions"
        )
        name = table.replace(".", "_")
        return f"{group}.{name}" if group else name

    assert set(tasks) == {task(table) for table in OBJECTS}
    for table in OBJECTS:
        assert tasks[task(table)]["group"] == (task(table).rpartition(".")[0] or None)
    upstream = {task_id: set(spec["upstream"]) for task_id, spec in tasks.items()}
    assert upstream["dimensions.gold_dim_customer"] == {"dimensions.silver_customers"}
    assert upstream["dimensions.gold_dim_store"] == {"dimensions.silver_stores"}
    assert upstream["dimensions.gold_dim_product"] == {"dimensions.silver_products"}
    assert upstream["dimensions.silver_customers"] == {"silver_late_alerts"}
    dimension_ends = {"dimensions.gold_dim_" + name for name in ("customer", "store", "product")}
    dimension_ends.add("dimensions.gold_dim_date")
    assert upstream["facts.gold_fact_transactions"] == dimension_ends
    facts = {"facts.gold_fact_transactions", "facts.gold_fact_fraud_alerts"}
    assert upstream["aggregates.gold_agg_hourly_sales"] == facts
    assert dags["silver_to_gold"]["params"] == {"lookback_minutes": 15}


def test_data_quality_maps_over_the_checks(dags: dict[str, Any]) -> None:
    tasks = dags["data_quality"]["tasks"]
    assert list(tasks) == ["run_check"]
    assert tasks["run_check"]["mapped"]


def test_maintenance_prunes_after_retention_and_vacuums_last(dags: dict[str, Any]) -> None:
    tasks = dags["maintenance"]["tasks"]
    assert tasks["retention"]["mapped"]  # over the tables; test_maintenance runs all three
    assert tasks["prune"]["upstream"] == ["retention"]
    assert tasks["vacuum"]["upstream"] == ["prune"]


def test_dlq_monitor_alerts_from_its_measure(dags: dict[str, Any]) -> None:
    tasks = dags["dlq_monitor"]["tasks"]
    assert tasks["alert"]["upstream"] == ["measure"]
    assert dags["dlq_monitor"]["params"] == {
        "rate_threshold": 0.05,
        "min_input_records": 20,
        "top_error_types": 5,
    }


def test_fraud_backfill_plans_runs_the_beam_operator_then_refreshes_gold(
    dags: dict[str, Any],
) -> None:
    dag = dags["fraud_backfill"]
    tasks = dag["tasks"]
    assert tasks["score"]["operator"] == "WarehouseBeamPythonOperator"  # the provider's, subclassed
    assert tasks["score"]["upstream"] == ["plan"]
    assert tasks["refresh_gold"]["upstream"] == ["plan", "score"]
    assert set(dag["params"]) == {
        "start",
        "end",
        "archive",
        "runner",
        "rules",
        "blacklist",
        "feedback_archive",
        "model",
        "warmup_days",
        "output_dir",
    }
    assert dag["params"]["runner"] == "FnApiRunner"


def test_model_retrain_evaluates_both_models_before_it_promotes(dags: dict[str, Any]) -> None:
    upstream = {
        task_id: set(task["upstream"]) for task_id, task in dags["model_retrain"]["tasks"].items()
    }
    assert upstream == {
        "windows": set(),
        # The analysts' verdicts join the feedback archive before anything reads it.
        "export_feedback": set(),
        "train": {"current_model", "windows", "export_feedback"},  # it retrains the served kind
        "evaluate_candidate": {"train", "windows"},
        "current_model": set(),
        "evaluate_current": {"current_model", "windows", "export_feedback"},
        "promote": {"train", "evaluate_candidate", "evaluate_current"},
        "register": {"promote"},
        "notify": {"promote", "register"},
        # Running jobs are told only once the decision is recorded.
        "register_for_running_jobs": {"promote", "register"},
    }
