"""fraud_backfill: rescore archived days with the same Beam pipeline, into the warehouse.

Triggered by hand with a date range (``start``, ``end``, both included) and an archive of one
folder per UTC day (``<archive>/date=YYYY-MM-DD/*.jsonl``, any Beam file system). Three tasks:

* ``plan`` asks the pipeline's environment for the run's options
  (``python -m pipelines.backfill_plan``): the range's files, the warm-up days before it
  (the rules' longest look-back, ``inactivity_days``), ``--emit_from`` at the range's start,
  absolute locations of the rules, blacklist and model, and the rules registry it exports
  first (``python -m pipelines.rules export``: each day scored by the version live used);
* ``score`` runs ``python -m pipelines.fraud`` through Beam's Airflow operator
  (``BeamRunPythonPipelineOperator``) with the pipeline's own interpreter, on ``FnApiRunner``
  or ``FlinkRunner``: the warm-up days warm the per-customer state and emit nothing, the range
  is scored and written to the warehouse (idempotent sinks: a re-run adds nothing);
* ``refresh_gold`` refreshes silver and gold for every row the run changed.

The warehouse connection's password, if any, reaches the pipeline as ``PGPASSWORD``, never on
its command line (the operator logs that). That covers the launcher and workers on the same
machine (FnApiRunner, a local Flink); remote Flink workers need a ``.pgpass`` of their own.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator
from airflow.sdk import DAG, BaseHook, Param, task
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from streamflow_notify import WAREHOUSE_CONNECTION
from streamflow_tasks import (
    DEFAULT_ARGS,
    PIPELINE_PYTHON,
    REPO,
    export_rules_registry,
    run_folder,
    run_pipeline_command,
    served_model,
)

RUNNERS = ["FnApiRunner", "FlinkRunner"]
# backfill_plan's exit status for a plan that cannot be made (a day missing from the archive).
PLAN_REFUSED = 2


class WarehouseBeamPythonOperator(BeamRunPythonPipelineOperator):
    """The Beam operator, with the warehouse password in the pipeline's environment."""

    def execute(self, context: Any) -> Any:
        password = BaseHook.get_connection(WAREHOUSE_CONNECTION).password
        if password:
            os.environ["PGPASSWORD"] = password  # this task's process and its child only
        return super().execute(context)


def warehouse_dsn() -> str:
    """The warehouse connection as libpq settings, its extras (sslmode, ...) included, without
    its password."""
    settings = conninfo_to_dict(BaseHook.get_connection(WAREHOUSE_CONNECTION).get_uri())
    settings.pop("password", None)
    return make_conninfo(**settings)


def chosen_model(requested: str | None) -> str:
    if requested:
        return requested
    served = served_model()
    return str(served) if served else "none"


with DAG(
    dag_id="fraud_backfill",
    description="Rescore archived days with the Beam pipeline (warm-up, then the range) and "
    "refresh gold",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 1},
    params={
        "start": Param("2026-10-01", type="string", format="date", description="First day."),
        "end": Param("2026-10-01", type="string", format="date", description="Last day."),
        "archive": Param(
            str(REPO / "out" / "archive"),
            type="string",
            description="Root of the per-day archive (date=YYYY-MM-DD folders; any Beam FS).",
        ),
        "runner": Param("FnApiRunner", enum=RUNNERS),
        "rules": Param(None, type=["null", "string"], description="Rules YAML."),
        "blacklist": Param(None, type=["null", "string"], description="Blacklist CSV."),
        "feedback_archive": Param(
            None,
            type=["null", "string"],
            description="Root of the confirmed outcomes by report day (date=YYYY-MM-DD folders): "
            "the backfill reads those of its warm-up and range, as the live run read them.",
        ),
        "model": Param(
            None,
            type=["null", "string"],
            description="Model folder, or 'none' for rules only; default: the promoted model.",
        ),
        "warmup_days": Param(
            None, type=["null", "integer"], description="Default: the rules' look-back."
        ),
        "output_dir": Param(
            None, type=["null", "string"], description="Default: .cache/backfills/<run>."
        ),
    },
    tags=["streamflow", "beam", "backfill"],
) as dag:

    @task
    def plan(**context: Any) -> dict[str, Any]:
        params = context["params"]
        output_dir = params["output_dir"] or str(
            REPO / ".cache" / "backfills" / run_folder(context)
        )
        arguments = ["--archive", params["archive"], "--output_dir", output_dir]
        arguments += ["--start", params["start"], "--end", params["end"]]
        arguments += ["--model", chosen_model(params["model"])]
        if params["feedback_archive"] is not None:
            # The warehouse's confirmed outcomes (analysts' verdicts) join the archive's files.
            export = ["export-feedback", "--archive", params["feedback_archive"]]
            run_pipeline_command("pipelines.warehouse", export)
        for name in ("rules", "blacklist", "warmup_days", "feedback_archive"):
            if params[name] is not None:
                arguments += [f"--{name}", str(params[name])]
        # The registered rules versions: each day is scored by the version live used then.
        arguments += ["--rules_changes", export_rules_registry(output_dir)]
        result: dict[str, Any] = run_pipeline_command(
            "pipelines.backfill_plan", arguments, fail_fast_on=(PLAN_REFUSED,)
        )
        result["pipeline_options"]["postgres_dsn"] = warehouse_dsn()
        # The sinks stamp what they change from now on: the gold refresh starts here.
        result["changed_since"] = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        return result

    @task
    def refresh_gold(planned: dict[str, Any]) -> dict[str, int]:
        until = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
        arguments = ["refresh", "--since", planned["changed_since"], "--until", until]
        changed: dict[str, int] = run_pipeline_command("pipelines.warehouse", arguments)
        return changed

    planned = plan()
    score = WarehouseBeamPythonOperator(
        task_id="score",
        py_file="pipelines.fraud",
        py_options=["-m"],
        py_interpreter=PIPELINE_PYTHON,
        runner="{{ params.runner }}",
        pipeline_options=planned["pipeline_options"],
    )
    planned >> score >> refresh_gold(planned)
