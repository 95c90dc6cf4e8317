"""model_retrain: every week, train a candidate anomaly model on recent history and promote it
only if it is not worse than the served one on a held-out window.

Windows, from the end of the run's data interval: the last ``holdout_days`` days are held out;
the ``train_days`` before them are the training history. Tasks:

* ``train``: ``python -m ml.train --events`` on the archive's training days;
* ``evaluate_candidate`` and ``evaluate_current`` (in parallel): the pipeline itself scores the
  held-out days with each model, its state warmed on the days before them (the backfill plan,
  ``--emit_from``), into files only, never the warehouse; then ``python -m ml.evaluate``
  measures it against the labels. The current model is what runs use today: the promoted one,
  else ``models/default`` (``current_model``);
* ``promote``: ``python -m ml.promote`` copies the candidate into ``model_dir`` if its blended
  score's average precision and card precision@100 are not worse (``tolerance``);
* ``register``: the decision, both models' metrics and the candidate's SHA-256 into
  ``silver.model_registry``;
* ``notify``: promoted or kept, the notifier says which and why.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import (
    DAG,
    CronDataIntervalTimetable,
    Param,
    task,
)
from streamflow_notify import alert_when_late, send
from streamflow_tasks import DEFAULT_ARGS, REPO, run_pipeline_command, served_model


def run_folder(context: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", context["run_id"])


def pipeline_arguments(options: dict[str, Any]) -> list[str]:
    """``pipelines.fraud``'s command line from a backfill plan's options."""
    arguments = []
    for name, value in options.items():
        values = value if isinstance(value, list) else [value]
        for one in values:
            arguments.append(f"--{name}" if one is True else f"--{name}={one}")
    return arguments


with DAG(
    dag_id="model_retrain",
    description="Weekly: train a candidate model, evaluate it against the served one on "
    "held-out days, promote it if not worse",
    schedule=CronDataIntervalTimetable("0 4 * * 1", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    deadline=alert_when_late("model_retrain", timedelta(hours=6), "6 hours"),
    params={
        "archive": Param(str(REPO / "out" / "archive"), type="string"),
        "labels_file": Param(
            str(REPO / "out" / "input" / "labels.jsonl"),
            type="string",
            description="Confirmed labels of the held-out days: {transaction_id, is_fraud}.",
        ),
        "blacklist": Param(None, type=["null", "string"]),
        "train_days": Param(21, type="integer", minimum=1),
        "holdout_days": Param(7, type="integer", minimum=1),
        "model_dir": Param(str(REPO / "models" / "production"), type="string"),
        "fallback_model": Param(
            str(REPO / "models" / "default"),
            type=["null", "string"],
            description="What runs use while nothing is promoted (null: no model).",
        ),
        "tolerance": Param(0.0, type="number", minimum=0),
    },
    tags=["streamflow", "ml"],
) as dag:

    @task
    def windows(**context: Any) -> dict[str, str]:
        params = context["params"]
        last = context["data_interval_end"].date() - timedelta(days=1)
        holdout_start = last - timedelta(days=params["holdout_days"] - 1)
        train_start = holdout_start - timedelta(days=params["train_days"])
        return {
            "train_start": train_start.isoformat(),
            "train_end": (holdout_start - timedelta(days=1)).isoformat(),
            "holdout_start": holdout_start.isoformat(),
            "holdout_end": last.isoformat(),
        }

    @task
    def train(window: dict[str, str], **context: Any) -> dict[str, Any]:
        params = context["params"]
        first, last = (date.fromisoformat(window[k]) for k in ("train_start", "train_end"))
        output_dir = str(REPO / ".cache" / "models" / "candidates" / run_folder(context))
        arguments = ["--output_dir", output_dir]
        for offset in range((last - first).days + 1):
            day = (first + timedelta(days=offset)).isoformat()
            arguments += ["--events", f"{params['archive']}/date={day}/*.jsonl"]
        if params["blacklist"]:
            arguments += ["--blacklist", params["blacklist"]]
        run_pipeline_command("ml.train", arguments, warehouse=False, prints=False)
        return {"model": output_dir}

    @task
    def evaluate(model: str | None, window: dict[str, str], **context: Any) -> Any:
        """``{"model", "metrics"}``: ``ml.evaluate``'s metrics of the pipeline run with
        ``model`` on the held-out days, warmed on the days before; ``None`` when ``model`` is
        ``None`` (nothing is served at all)."""
        if model is None:
            return None
        if not (Path(model) / "metadata.json").exists():
            raise FileNotFoundError(f"no model at {model}")
        params = context["params"]
        name = context["ti"].task_id
        output_dir = str(REPO / ".cache" / "models" / "evaluations" / run_folder(context) / name)
        arguments = ["--archive", params["archive"], "--output_dir", output_dir]
        arguments += ["--start", window["holdout_start"], "--end", window["holdout_end"]]
        arguments += ["--model", model]
        if params["blacklist"]:
            arguments += ["--blacklist", params["blacklist"]]
        planned = run_pipeline_command("pipelines.backfill_plan", arguments, warehouse=False)
        # Never into the warehouse: an evaluation's scores are not the served ones.
        options = pipeline_arguments(planned["pipeline_options"])
        run_pipeline_command("pipelines.fraud", options, warehouse=False)
        evaluate_arguments = ["--output_dir", output_dir, "--labels_file", params["labels_file"]]
        metrics = run_pipeline_command("ml.evaluate", evaluate_arguments, warehouse=False)
        return {"model": model, "metrics": metrics}

    @task
    def current_model(**context: Any) -> str | None:
        """What runs use today: the promoted model, else the default one, else none."""
        params = context["params"]
        fallback = Path(params["fallback_model"]) if params["fallback_model"] else None
        served = served_model(Path(params["model_dir"]), fallback)
        return str(served) if served else None

    @task
    def promote(
        candidate: dict[str, Any],
        candidate_evaluation: dict[str, Any],
        current_evaluation: dict[str, Any] | None,
        **context: Any,
    ) -> dict[str, Any]:
        params = context["params"]
        arguments = ["--candidate", candidate["model"], "--model_dir", params["model_dir"]]
        arguments += ["--candidate_metrics", json.dumps(candidate_evaluation["metrics"])]
        if current_evaluation is not None:
            arguments += ["--current_metrics", json.dumps(current_evaluation["metrics"])]
            arguments += ["--current_model", current_evaluation["model"]]
        arguments += ["--tolerance", str(params["tolerance"])]
        decision: dict[str, Any] = run_pipeline_command("ml.promote", arguments)
        return decision

    @task
    def register(decision: dict[str, Any]) -> dict[str, Any]:
        arguments = ["register-model", "--decision", json.dumps(decision)]
        registered: dict[str, Any] = run_pipeline_command("pipelines.warehouse", arguments)
        return registered

    @task
    def notify(decision: dict[str, Any], registered: dict[str, Any], **context: Any) -> None:
        promoted = decision["decision"] == "promoted"
        candidate = decision["candidate"]
        send(
            "model_promoted" if promoted else "model_kept",
            "info" if promoted else "warning",
            f"{candidate['model_version']} {'promoted' if promoted else 'not promoted'}: "
            f"{decision['reason']}",
            {**decision, **registered},
            dag_id=context["dag"].dag_id,
            run_id=context["run_id"],
            task_id=context["ti"].task_id,
        )

    window = windows()
    candidate = train(window)
    candidate_metrics = evaluate.override(task_id="evaluate_candidate")(candidate["model"], window)
    current_metrics = evaluate.override(task_id="evaluate_current")(current_model(), window)
    decision = promote(candidate, candidate_metrics, current_metrics)
    notify(decision, register(decision))
