"""Runs in Airflow's own interpreter (``scripts/airflow.sh python tests/airflow/run_dag.py``),
never in the pipeline's: parses the DAG folder, then ``dag.test()`` of one DAG, and prints one
JSON document with the import errors, the run's state, every task instance's state and the
last lines each failed task logged (what a failing test shows).

    run_dag.py DAG_ID LOGICAL_DATE [RUN_CONF_JSON]
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.definitions import dag as dag_module

LOG_TAIL_LINES = 40


def main(dag_id: str, logical_date: str, run_conf: str = "{}") -> None:
    # What dag.test() logs (task logs included) goes to standard error, for failures; standard
    # output carries the report only.
    with _descriptors_to(sys.stderr.fileno()):
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
            task_logs: dict[str, list[str]] = {}
            started = time.perf_counter()
            with _each_task_output(task_logs):
                run = dag.test(
                    logical_date=datetime.fromisoformat(logical_date),
                    run_conf=json.loads(run_conf),
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
                _label(ti.task_id, ti.map_index): (
                    (ti.end_date - ti.start_date).total_seconds()
                    if ti.start_date and ti.end_date
                    else None
                )
                for ti in instances
            }
            failed = [_label(ti.task_id, ti.map_index) for ti in instances if ti.state == "failed"]
            report["failed_task_logs"] = {label: task_logs.get(label, []) for label in failed}
    print(json.dumps(report))


def _label(task_id: str, map_index: int) -> str:
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


@contextlib.contextmanager
def _descriptors_to(target: int) -> Iterator[None]:
    """Sends file descriptors 1 and 2 to ``target`` meanwhile: what Python writes (Airflow's
    loggers hold sys.stdout itself) and what child processes write, alike."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(target, 1)
    os.dup2(target, 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for descriptor, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, descriptor)
            os.close(copy)


@contextlib.contextmanager
def _each_task_output(logs: dict[str, list[str]]) -> Iterator[None]:
    """Records the last lines each task attempt wrote (its log, and its subprocesses' output)
    in ``logs``, keyed by task label; all of it still reaches standard error.

    dag.test() runs every attempt through the private ``_run_task`` of Airflow's DAG module
    (Airflow 3.x), wrapped here. Without that function (another Airflow release), runs go on
    without per-task logs.
    """
    original: Callable[..., Any] | None = getattr(dag_module, "_run_task", None)
    if original is None:
        yield
        return

    def run_task(*, ti: Any, task: Any, **kwargs: Any) -> Any:
        with tempfile.TemporaryFile() as sink:
            try:
                with _descriptors_to(sink.fileno()):
                    return original(ti=ti, task=task, **kwargs)
            finally:
                sink.seek(0)
                text = sink.read().decode(errors="replace")
                sys.stderr.write(text)
                logs[_label(ti.task_id, ti.map_index)] = text.splitlines()[-LOG_TAIL_LINES:]

    dag_module._run_task = run_task
    try:
        yield
    finally:
        dag_module._run_task = original


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
