"""Runs in Airflow's own interpreter (``scripts/airflow.sh python tests/airflow/run_dag.py``),
never in the pipeline's: parses the DAG folder, then ``dag.test()`` of one DAG, and prints one
JSON document with the import errors, the run's state and every task instance's state.

    run_dag.py DAG_ID LOGICAL_DATE [RUN_CONF_JSON]
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from datetime import datetime
from typing import Any

from airflow.dag_processing.dagbag import DagBag


def main(dag_id: str, logical_date: str, run_conf: str = "{}") -> None:
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        bag = DagBag()  # the configured folder: airflow/dags
        report: dict[str, object] = {"import_errors": dict(bag.import_errors)}
        dag = bag.get_dag(dag_id)
        if dag is None:
            report["error"] = f"no DAG {dag_id}"
        else:
            report["deadlines"] = [
                {
                    "reference": type(alert.reference).__name__,
                    "interval_s": _interval(alert.interval),
                    "callback": alert.callback.path,
                    "kwargs": alert.callback.kwargs,
                }
                for alert in _deadlines(dag)
            ]
            # dag.test() in Airflow 3.3.2 fails at the end of a run of a DAG with a Deadline
            # Alert (it looks the alert up by its serialized form instead of its id:
            # apache/airflow#73428), so the run goes without: the alert is reported above, and
            # the running Airflow stores it with each run (tests/airflow/test_service.py).
            dag.deadline = None
            started = time.perf_counter()
            run = dag.test(
                logical_date=datetime.fromisoformat(logical_date), run_conf=json.loads(run_conf)
            )
            report["seconds"] = time.perf_counter() - started
            report["state"] = str(run.state)
            report["data_interval"] = [
                run.data_interval_start.isoformat(),
                run.data_interval_end.isoformat(),
            ]
            instances = run.get_task_instances()
            report["tasks"] = sorted([ti.task_id, ti.map_index, str(ti.state)] for ti in instances)
            report["task_seconds"] = {
                ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": (
                    (ti.end_date - ti.start_date).total_seconds()
                    if ti.start_date and ti.end_date
                    else None
                )
                for ti in instances
            }
    # What dag.test() logged (task logs included) goes to standard error, for failures.
    print(quiet.getvalue(), file=sys.stderr)
    print(json.dumps(report))


def _deadlines(dag: Any) -> list[Any]:
    if dag.deadline is None:
        return []
    return list(dag.deadline) if isinstance(dag.deadline, list) else [dag.deadline]


def _interval(interval: Any) -> float | str:
    """Seconds, or the Airflow Variable that holds them."""
    key = getattr(interval, "key", None)
    return f"variable:{key}" if key else float(interval.total_seconds())


if __name__ == "__main__":
    main(*sys.argv[1:])
