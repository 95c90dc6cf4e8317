"""model_retrain: every week, retrain the kind of model that is served on recent history and
promote the challenger only if it is not worse than the champion on a held-out window.

Windows, as the field's evaluation protocol lays them out (train, a delay, test;
``pipelines.evaluate_protocol``): fraud is confirmed days after it happens (chargebacks, about a
week), so a window is only labelled once ``label_delay_days`` have passed since it closed. From
the end of the run's data interval (the evaluation's moment): the ``holdout_days`` ending
``label_delay_days`` before it are held out, so their frauds are reported by then; the
``train_days`` ending ``label_delay_days`` before the held-out window are the training history,
labelled as known when the held-out window starts (the training window's end plus the delay:
the moment a team training then would know them, never later than the evaluation's). Tasks:

* ``export_feedback``: the warehouse's feedback (analysts' verdicts, ``silver.feedback``) into
  ``feedback_archive`` as ``date=YYYY-MM-DD/warehouse.jsonl``, beside the other sources' files;
* ``current_model``: what runs use today (the promoted model, else ``fallback_model``) and its
  kind (``model_kind`` in its metadata);
* ``train``: the served kind again. An Isolation Forest: ``python -m ml.train --events`` on the
  archive's training days. A supervised model: the pipeline scores the training days (warmed
  on the days before, fed the feedback reported by then) into files, and
  ``python -m ml.train --supervised`` learns from those scored records, labelled with what the
  feedback said by the held-out window's start (``--labels_at``), never later: what a team
  training then would know. Nothing served: an Isolation Forest;
* ``evaluate_candidate`` and ``evaluate_current`` (in parallel): the pipeline itself scores the
  held-out days with each model, its state warmed on the days before them (the backfill plan,
  ``--emit_from``), both fed the same feedback (``feedback_archive``: store counts, FR-007 and
  FR-008 as the live run has them), into files only, never the warehouse; then
  ``python -m ml.evaluate --feedback`` labels every scored transaction with what the feedback
  said by the end of the data interval (the evaluation's moment) and measures it;
* ``promote``: ``python -m ml.promote`` copies the candidate into ``model_dir`` if its blended
  score's average precision and card precision@100 are not worse (``tolerance``). An
  evaluation without scores (no confirmed fraud in the window) is refused: the task fails
  without retry and the failure notifier says why;
* ``register``: the decision, both models' metrics and the candidate's SHA-256 into
  ``silver.model_registry``;
* ``register_for_running_jobs``: with ``live_effective_after_minutes``, a promoted model is
  also registered for the jobs already running: copied to ``releases_dir/<model_version>``
  (kept, unlike ml.promote's releases) and registered from there (``python -m
  pipelines.models register``, published to ``rules_topic``): they switch to it at that
  instant, by event time, without a restart. Without it, only jobs launched later read
  ``model_dir``;
* ``notify``: promoted or kept, the notifier says which and why.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import (
    DAG,
    CronDataIntervalTimetable,
    Param,
    task,
)
from streamflow_notify import alert_when_late, send
from streamflow_tasks import DEFAULT_ARGS, REPO, run_folder, run_pipeline_command, served_model

# ml.promote's exit status when an evaluation has no scores (ml.promote.NOT_MEASURED): a retry
# would refuse again. Airflow's interpreter cannot import ml, hence the copy.
PROMOTE_NOT_MEASURED = 3
ISOLATION_FOREST, SUPERVISED = "isolation_forest", "supervised"


def pipeline_arguments(options: dict[str, Any]) -> list[str]:
    """``pipelines.fraud``'s command line from a backfill plan's options."""
    arguments = []
    for name, value in options.items():
        values = value if isinstance(value, list) else [value]
        for one in values:
            arguments.append(f"--{name}" if one is True else f"--{name}={one}")
    return arguments


def model_kind(model: str) -> str:
    """The served model's kind; an artifact without ``model_kind`` is an Isolation Forest."""
    metadata = json.loads((Path(model) / "metadata.json").read_text("utf-8"))
    kind: str = metadata.get("model_kind", ISOLATION_FOREST)
    return kind


def instant(day: str) -> str:
    """The first instant of ``day`` (ISO date), UTC."""
    return f"{day}T00:00:00Z"


def feedback_files(feedback_archive: str) -> str:
    """Every report day's feedback: the commands keep what was reported by their instant."""
    return f"{feedback_archive}/date=*/*.jsonl"


def score_days(
    model: str | None, first: str, last: str, output_dir: str, params: dict[str, Any]
) -> None:
    """The pipeline scores the archive's days [first, last] with ``model``, warmed on the days
    before and fed the feedback reported by then, into ``output_dir``'s files only: never the
    warehouse, an evaluation's or a training's scores are not the served ones."""
    arguments = ["--archive", params["archive"], "--output_dir", output_dir]
    arguments += ["--start", first, "--end", last]
    arguments += ["--model", model or "none"]
    for name in ("blacklist", "feedback_archive"):
        if params[name]:
            arguments += [f"--{name}", params[name]]
    planned = run_pipeline_command("pipelines.backfill_plan", arguments, warehouse=False)
    options = pipeline_arguments(planned["pipeline_options"])
    # --json: run_pipeline_command reads the result as JSON from stdout.
    run_pipeline_command("pipelines.fraud", [*options, "--json"], warehouse=False)


with DAG(
    dag_id="model_retrain",
    description="Weekly: retrain the served kind of model, evaluate it against the served one "
    "on held-out days with the same feedback, promote it if not worse",
    schedule=CronDataIntervalTimetable("0 4 * * 1", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    deadline=alert_when_late("model_retrain", timedelta(hours=6), "6 hours"),
    params={
        "archive": Param(str(REPO / "out" / "archive"), type="string"),
        "feedback_archive": Param(
            str(REPO / "out" / "feedback"),
            type="string",
            description="Root of the confirmed outcomes by report day (date=YYYY-MM-DD folders): "
            "the pipeline runs read them as the live run did, and they label training and "
            "evaluation as known at each one's moment.",
        ),
        "blacklist": Param(None, type=["null", "string"]),
        "train_days": Param(21, type="integer", minimum=1),
        "holdout_days": Param(7, type="integer", minimum=1),
        # The generator reports a fraud 7 days after it happened plus up to a day of jitter
        # (pipelines.generate --feedback_delay_days): after 8 days every fraud of a window is
        # reported, so neither the held-out week nor the training window's last days are
        # labelled genuine for want of a report. Match it to the feedback's real delay.
        "label_delay_days": Param(
            8,
            type="integer",
            minimum=0,
            description="Days from a transaction to its fraud's report: the held-out window "
            "ends this long before the evaluation, the training window this long before the "
            "held-out one.",
        ),
        "model_dir": Param(str(REPO / "models" / "production"), type="string"),
        "fallback_model": Param(
            str(REPO / "models" / "default"),
            type=["null", "string"],
            description="What runs use while nothing is promoted (null: no model).",
        ),
        "tolerance": Param(0.0, type="number", minimum=0),
        "live_effective_after_minutes": Param(
            None,
            type=["null", "integer"],
            minimum=2,
            description="Register a promoted model for running jobs, effective this many "
            "minutes after promotion (at least the registration grace; null: only jobs launched "
            "later use it).",
        ),
        "kafka_bootstrap_servers": Param(
            None,
            type=["null", "string"],
            description="Where running jobs read registered versions (null: "
            "STREAMFLOW_KAFKA_BOOTSTRAP in the workers' environment).",
        ),
        "rules_topic": Param("reference.rules", type="string"),
        "releases_dir": Param(
            str(REPO / "models" / "releases"),
            type="string",
            description="Where a model registered for running jobs is kept, by version, for as "
            "long as a replay may need it.",
        ),
    },
    tags=["streamflow", "ml"],
) as dag:

    @task
    def windows(**context: Any) -> dict[str, str]:
        params = context["params"]
        end = context["data_interval_end"]
        delay = timedelta(days=params["label_delay_days"])
        # Held out: days whose frauds are reported by the evaluation's moment.
        holdout_until = end.date() - delay
        holdout_start = holdout_until - timedelta(days=params["holdout_days"])
        # Trained on: days whose frauds are reported by the held-out window's start, the moment
        # the challenger would have been trained; its model then serves the held-out days.
        train_until = holdout_start - delay
        train_start = train_until - timedelta(days=params["train_days"])
        return {
            "train_start": train_start.isoformat(),
            "train_end": (train_until - timedelta(days=1)).isoformat(),
            "train_until": instant(train_until.isoformat()),
            # The training window's end plus the delay: before the evaluation's moment.
            "labels_at": instant(holdout_start.isoformat()),
            "holdout_start": holdout_start.isoformat(),
            "holdout_end": (holdout_until - timedelta(days=1)).isoformat(),
            # Both evaluations label with what the feedback said by the interval's end.
            "evaluated_at": end.isoformat().replace("+00:00", "Z"),
        }

    @task
    def current_model(**context: Any) -> dict[str, str | None]:
        """What runs use today (the promoted model, else the fallback, else none), its kind."""
        params = context["params"]
        fallback = Path(params["fallback_model"]) if params["fallback_model"] else None
        served = served_model(Path(params["model_dir"]), fallback)
        if served is None:
            return {"model": None, "kind": None}
        return {"model": str(served), "kind": model_kind(str(served))}

    @task
    def train(
        window: dict[str, str], current: dict[str, str | None], **context: Any
    ) -> dict[str, Any]:
        """The candidate, of the served kind (an Isolation Forest when nothing is served)."""
        params = context["params"]
        folder = REPO / ".cache" / "models"
        output_dir = str(folder / "candidates" / run_folder(context))
        if current["kind"] == SUPERVISED:
            scored = str(folder / "training" / run_folder(context))
            score_days(current["model"], window["train_start"], window["train_end"], scored, params)
            arguments = ["--supervised", "--output_dir", output_dir]
            arguments += ["--scored", f"{scored}/scored-*.jsonl"]
            arguments += ["--feedback", feedback_files(params["feedback_archive"])]
            arguments += ["--train_from", instant(window["train_start"])]
            arguments += ["--train_until", window["train_until"]]
            # Labels as known at training time: the window's end plus the reporting delay.
            arguments += ["--labels_at", window["labels_at"]]
        else:
            first, last = (date.fromisoformat(window[k]) for k in ("train_start", "train_end"))
            arguments = ["--output_dir", output_dir]
            for offset in range((last - first).days + 1):
                day = (first + timedelta(days=offset)).isoformat()
                arguments += ["--events", f"{params['archive']}/date={day}/*.jsonl"]
            if params["blacklist"]:
                arguments += ["--blacklist", params["blacklist"]]
        run_pipeline_command("ml.train", arguments, warehouse=False, prints=False)
        return {"model": output_dir, "kind": current["kind"] or ISOLATION_FOREST}

    @task
    def evaluate(model: str | None, window: dict[str, str], **context: Any) -> Any:
        """``{"model", "metrics"}``: ``ml.evaluate``'s metrics of the pipeline run with
        ``model`` on the held-out days, warmed on the days before, fed the feedback, labelled
        with it; ``None`` when ``model`` is ``None`` (nothing is served at all)."""
        if model is None:
            return None
        if not (Path(model) / "metadata.json").exists():
            raise FileNotFoundError(f"no model at {model}")
        params = context["params"]
        name = context["ti"].task_id
        output_dir = str(REPO / ".cache" / "models" / "evaluations" / run_folder(context) / name)
        score_days(model, window["holdout_start"], window["holdout_end"], output_dir, params)
        arguments = ["--output_dir", output_dir]
        arguments += ["--feedback", feedback_files(params["feedback_archive"])]
        arguments += ["--labels_at", window["evaluated_at"]]
        metrics = run_pipeline_command("ml.evaluate", arguments, warehouse=False)
        return {"model": model, "metrics": metrics}

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
        decision: dict[str, Any] = run_pipeline_command(
            "ml.promote", arguments, fail_fast_on=(PROMOTE_NOT_MEASURED,)
        )
        return decision

    @task
    def register(decision: dict[str, Any]) -> dict[str, Any]:
        arguments = ["register-model", "--decision", json.dumps(decision)]
        registered: dict[str, Any] = run_pipeline_command("pipelines.warehouse", arguments)
        return registered

    @task
    def register_for_running_jobs(
        decision: dict[str, Any], **context: Any
    ) -> dict[str, str] | None:
        """The promoted release as a model version running jobs switch to at an instant;
        what ``pipelines.models register`` printed."""
        params = context["params"]
        minutes = params["live_effective_after_minutes"]
        if decision["decision"] != "promoted" or minutes is None:
            return None
        effective = (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()
        # ml.promote keeps two releases; a registered version must outlive the replays that
        # need it: a copy of its own, by version, that nothing deletes.
        lasting = Path(params["releases_dir"]) / decision["candidate"]["model_version"]
        if not lasting.exists():
            staging = lasting.with_name(f".{lasting.name}.{context['run_id'][-12:]}")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(decision["model_dir"], staging)
            staging.rename(lasting)
        arguments = ["register", str(lasting), "--effective_from", effective]
        arguments += ["--author", "model_retrain", "--rules_topic", params["rules_topic"]]
        arguments += ["--note", f"promoted by model_retrain {context['run_id']}"]
        if params["kafka_bootstrap_servers"]:
            arguments += ["--kafka_bootstrap_servers", params["kafka_bootstrap_servers"]]
        registered: dict[str, str] = run_pipeline_command("pipelines.models", arguments)
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

    @task
    def export_feedback(**context: Any) -> dict[str, int]:
        """The warehouse's confirmed outcomes (analysts' verdicts) into the feedback archive,
        beside the files: training and both evaluations then read them too."""
        arguments = ["export-feedback", "--archive", context["params"]["feedback_archive"]]
        exported: dict[str, int] = run_pipeline_command("pipelines.warehouse", arguments)
        return exported

    window = windows()
    served = current_model()
    exported = export_feedback()
    candidate = train(window, served)
    exported >> candidate
    candidate_metrics = evaluate.override(task_id="evaluate_candidate")(candidate["model"], window)
    current_metrics = evaluate.override(task_id="evaluate_current")(served["model"], window)
    exported >> current_metrics
    decision = promote(candidate, candidate_metrics, current_metrics)
    recorded = register(decision)
    notify(decision, recorded)
    # After the decision is recorded: the audit row exists before running jobs are told.
    recorded >> register_for_running_jobs(decision)
