"""Runs in Airflow's own interpreter (``scripts/airflow.sh python tests/airflow/describe_dags.py``):
parses the DAG folder as the dag-processor does and prints one JSON document: the parse time,
the import errors, and each DAG's schedule, parameters, deadlines and tasks with their group,
upstream tasks, retries and callbacks.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from typing import Any

from airflow.dag_processing.dagbag import DagBag


def describe_task(task: Any) -> dict[str, Any]:
    group = task.task_group.group_id if task.task_group else None
    callbacks = task.on_failure_callback or []
    callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
    return {
        "group": group,
        "upstream": sorted(task.upstream_task_ids),
        "operator": task.task_type,
        "mapped": hasattr(task, "expand_input"),
        "owner": task.owner,
        "retries": task.retries,
        "exponential_backoff": bool(task.retry_exponential_backoff),
        "on_failure": [type(callback).__name__ for callback in callbacks],
    }


def describe_dag(dag: Any) -> dict[str, Any]:
    deadlines = dag.deadline or []
    deadlines = deadlines if isinstance(deadlines, list) else [deadlines]
    return {
        "timetable": type(dag.timetable).__name__,
        "schedule": getattr(dag.timetable, "expression", None),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "tags": sorted(dag.tags),
        "params": {name: dag.params[name] for name in dag.params},
        "deadlines": [
            [type(alert.reference).__name__, _interval(alert.interval), alert.callback.path]
            for alert in deadlines
        ],
        "tasks": {task.task_id: describe_task(task) for task in dag.tasks},
    }


def main() -> None:
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        started = time.perf_counter()
        bag = DagBag()  # the configured folder: airflow/dags
        parse_seconds = time.perf_counter() - started
        report = {
            "parse_seconds": parse_seconds,
            "import_errors": dict(bag.import_errors),
            "dags": {dag_id: describe_dag(dag) for dag_id, dag in sorted(bag.dags.items())},
        }
    print(quiet.getvalue(), file=sys.stderr)
    print(json.dumps(report, default=str))


def _interval(interval: Any) -> float | str:
    """Seconds, or the Airflow Variable that holds them."""
    key = getattr(interval, "key", None)
    return f"variable:{key}" if key else float(interval.total_seconds())


if __name__ == "__main__":
    main()
