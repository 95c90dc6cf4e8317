"""rules_backtest: what a candidate rules file (and model) would have done on archived days.

Triggered by hand with the candidate and a date range; nothing it runs writes to the warehouse
or to a topic. Three tasks:

* ``export_feedback``: the warehouse's verdicts (analysts', ``silver.feedback``) into
  ``feedback_archive``, beside the other sources' files, so the labels are all that is known;
* ``export_registry``: the rules versions the live job used (``python -m pipelines.rules
  export``), for the champion's run;
* ``backtest``: ``python -m pipelines.backtest`` scores the range twice on Beam's in-process
  runner after the backfill's warm-up, the champion as live scored it and the candidate, and
  writes ``report.json`` and its pictures into ``output_dir``; the task returns its summary
  (versions, alerts, precision, recall, alerts gained and lost). The warehouse DSN is kept out
  of its environment. A refused backtest (a day missing from the archive, an unreadable rules
  file) fails without retry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task
from airflow.sdk.exceptions import AirflowFailException
from streamflow_tasks import (
    DEFAULT_ARGS,
    REPO,
    export_rules_registry,
    run_folder,
    run_pipeline_command,
    served_model,
)

# pipelines.backtest's exit status for a backtest that cannot be made: a retry would repeat it.
BACKTEST_REFUSED = 2

with DAG(
    dag_id="rules_backtest",
    description="What a candidate rules file (and model) would have done on archived days",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 1},
    params={
        "candidate_rules": Param(
            None, type=["null", "string"], description="The candidate's rules file (required)."
        ),
        "candidate_model": Param(
            None, type=["null", "string"], description="Its model folder; default: served."
        ),
        "start": Param("2026-10-01", type="string", format="date", description="First day."),
        "end": Param("2026-10-01", type="string", format="date", description="Last day."),
        "archive": Param(
            str(REPO / "out" / "archive"),
            type="string",
            description="Root of the per-day event archive (date=YYYY-MM-DD folders).",
        ),
        "feedback_archive": Param(
            str(REPO / "out" / "feedback"),
            type="string",
            description="Root of the confirmed outcomes by report day: the labels.",
        ),
        "model": Param(
            None,
            type=["null", "string"],
            description="The champion's model folder, or 'none'; default: the served model.",
        ),
        "rules": Param(None, type=["null", "string"], description="The champion's base rules."),
        "blacklist": Param(None, type=["null", "string"], description="Blacklist CSV."),
        "warmup_days": Param(
            None, type=["null", "integer"], description="Default: the rules' look-back."
        ),
        "output_dir": Param(
            None, type=["null", "string"], description="Default: .cache/backtests/<run>."
        ),
    },
    tags=["streamflow", "beam", "backtest"],
) as dag:

    @task
    def export_feedback(**context: Any) -> None:
        archive = context["params"]["feedback_archive"]
        run_pipeline_command("pipelines.warehouse", ["export-feedback", "--archive", archive])

    @task
    def export_registry(**context: Any) -> str:
        return export_rules_registry(_output_dir(context))

    @task
    def backtest(registry: str, **context: Any) -> dict[str, Any]:
        params = context["params"]
        if not params["candidate_rules"]:
            raise AirflowFailException("rules_backtest needs the candidate_rules param")
        served = served_model()
        champion_model = params["model"] or (str(served) if served else "none")
        arguments = [
            "--candidate_rules", params["candidate_rules"],
            "--candidate_model", params["candidate_model"] or champion_model,
            "--model", champion_model,
            "--from", params["start"], "--to", params["end"],
            "--archive", params["archive"],
            "--feedback_archive", params["feedback_archive"],
            "--rules_changes", registry,
            "--output_dir", _output_dir(context),
        ]  # fmt: skip
        for name in ("rules", "blacklist", "warmup_days"):
            if params[name] is not None:
                arguments += [f"--{name}", str(params[name])]
        summary: dict[str, Any] = run_pipeline_command(
            "pipelines.backtest", arguments, fail_fast_on=(BACKTEST_REFUSED,), warehouse=False
        )
        return summary

    def _output_dir(context: dict[str, Any]) -> str:
        requested: str | None = context["params"]["output_dir"]
        return requested or str(REPO / ".cache" / "backtests" / run_folder(context))

    export_feedback() >> backtest(export_registry())
