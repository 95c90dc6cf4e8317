"""What StreamFlow's DAGs share: where the repository and the pipeline's interpreter are, the
default task arguments, and running a ``python -m pipelines...`` command as a task.

Airflow has its own virtualenv (another Beam release, no StreamFlow package), so the DAGs run
the project's commands with the pipeline's interpreter (``STREAMFLOW_PIPELINE_PYTHON``, set by
``scripts/airflow.sh``) in a subprocess. The warehouse DSN comes from the
``streamflow_warehouse`` connection and reaches the command through its environment, never its
arguments (task logs show those).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowFailException
from streamflow_notify import WAREHOUSE_CONNECTION, StreamFlowNotifier

REPO = Path(__file__).resolve().parents[2]
PIPELINE_PYTHON = os.environ.get(
    "STREAMFLOW_PIPELINE_PYTHON", str(REPO / ".venv" / "bin" / "python")
)
COMMAND_TIMEOUT_S = 3600
# The model model_retrain promotes; until one is, runs use the default model
# (pipelines.train_default).
PROMOTED_MODEL = REPO / "models" / "production"
DEFAULT_MODEL = REPO / "models" / "default"

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "streamflow",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "on_failure_callback": StreamFlowNotifier("task_failed", "error"),
}


def run_folder(context: Any) -> str:
    """The run's id as a folder name: where a run's files go."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", context["run_id"])


def export_rules_registry(output_dir: str) -> str:
    """The rules registry (``python -m pipelines.rules export``) beside ``output_dir``, which the
    run clears: a run given it as ``--rules_changes`` scores each event by the version live
    used at its time. Returns the file."""
    registry = f"{output_dir.rstrip('/')}.rules.jsonl"
    run_pipeline_command("pipelines.rules", ["export", "--output", registry])
    return registry


def served_model(
    promoted: Path = PROMOTED_MODEL, fallback: Path | None = DEFAULT_MODEL
) -> Path | None:
    """The model runs use: the promoted one, else the fallback, else none (rules only)."""
    for folder in (promoted, fallback):
        if folder is not None and (folder / "metadata.json").exists():
            return folder
    return None


def warehouse_environment() -> dict[str, str]:
    """The environment a pipeline command needs: the warehouse DSN from the connection."""
    dsn = BaseHook.get_connection(WAREHOUSE_CONNECTION).get_uri()
    return {**os.environ, "STREAMFLOW_PG_DSN": dsn}


def run_pipeline_command(
    module: str,
    arguments: list[str],
    *,
    fail_fast_on: tuple[int, ...] = (),
    warehouse: bool = True,
    prints: bool = True,
) -> Any:
    """Runs ``python -m MODULE ARGUMENTS`` and returns the JSON it printed.

    A non-zero exit raises: a RuntimeError (retried) unless the exit status is in
    ``fail_fast_on``, a failure that a retry would repeat (AirflowFailException). A command
    that ``prints`` its result and printed nothing did not finish: retried too.
    ``warehouse=False`` keeps the warehouse DSN out of the command's environment: a pipeline
    run for an evaluation must not write (``pipelines.fraud`` defaults ``--postgres_dsn`` to
    it).
    """
    command = [PIPELINE_PYTHON, "-m", module, *arguments]
    if warehouse:
        environment = warehouse_environment()
    else:
        environment = {k: v for k, v in os.environ.items() if k != "STREAMFLOW_PG_DSN"}
    done = subprocess.run(
        command,
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    if done.stderr:
        print(done.stderr[-5000:])  # into the task log
    if done.returncode != 0:
        if done.returncode in fail_fast_on:
            raise AirflowFailException(f"{module} failed: {failure_reason(done)}")
        raise RuntimeError(f"{module} exited {done.returncode}: {failure_reason(done)}")
    result = parse_output(done.stdout)
    if prints and result is None:
        raise RuntimeError(f"{module} printed no result: {done.stderr.strip()[-2000:]}")
    return result


def failure_reason(done: subprocess.CompletedProcess[str]) -> str:
    """What a failed command said, for the exception (and so the notification): the result it
    printed, if any (a failed quality check's measurement), then the end of its standard error,
    where the project's commands write their one-line errors (a refused backfill plan's
    reason). The result comes first: the notifier keeps an exception's first 2,000 characters."""
    printed = done.stdout.strip()[-1000:]
    error = done.stderr.strip()[-1000:]
    return "\n".join(part for part in (printed, error) if part)


def parse_output(stdout: str) -> Any:
    """A command prints one JSON document, indented or on its last line."""
    text = stdout.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(text.splitlines()[-1])
