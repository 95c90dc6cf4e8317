"""The model_retrain DAG, run for real over an archive and a feedback archive: retrains the
served kind of model on the training days, has the pipeline score the held-out days with it
and with the served model (once there is one), both fed the same feedback and labelled with
what the feedback said, promotes it when not worse, records the decision in the model registry
and notifies; an evaluation without scores fails the promotion, without retry, and notifies."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ml.supervised import train_supervised
from pipelines.fraud import run
from pipelines.synthetic import generate_dataset
from pipelines.synthetic.archive import archive_file, write_feedback_archive
from tests.airflow.dag_runs import assert_run, ops_events, run_dag, task_states

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

# Weekly on Mondays: this run's interval ends on Monday 2026-10-12, so with 3 held-out days
# the model is evaluated on Oct 9-11 and trained on the 5 days before (Oct 4-8). Fraud is
# reported a day or two after it happens: by the interval's end the held-out days have some.
LOGICAL_DATE = datetime(2026, 10, 12, 5, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("archive")
    generated = generate_dataset(str(root), seed=9, customers=150, days=10, feedback_delay_days=1)
    archive_file(generated.events, root / "days")
    write_feedback_archive(Path(generated.feedback).read_bytes().splitlines(), root / "feedback")
    return {
        "archive": str(root / "days"),
        "feedback_archive": str(root / "feedback"),
        "blacklist": generated.blacklist,
        "events": generated.events,
        "feedback": generated.feedback,
    }


@pytest.fixture
def archive(dataset: dict[str, str]) -> dict[str, str]:
    """The DAG's params for the archives."""
    return {name: dataset[name] for name in ("archive", "feedback_archive", "blacklist")}


def _registry(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as connection:
        return connection.execute(
            "SELECT model_version, model_sha256, promoted, replaced_version, "
            "(metrics -> 'blend' ->> 'average_precision')::float8 FROM silver.model_registry "
            "ORDER BY registry_id"
        ).fetchall()


def test_a_candidate_is_trained_evaluated_promoted_and_registered(
    warehouse: str, archive: dict[str, str], tmp_path: Path
) -> None:
    model_dir = tmp_path / "production"
    conf: dict[str, Any] = {**archive, "train_days": 5, "holdout_days": 3}
    conf["model_dir"] = str(model_dir)
    conf["fallback_model"] = None  # nothing served before: the first candidate is promoted
    report = run_dag("model_retrain", LOGICAL_DATE, warehouse, conf)
    assert_run(report)
    assert set(task_states(report).values()) == {"success"}
    served = json.loads((model_dir / "metadata.json").read_text())
    assert served["model_version"].startswith("iforest-")  # nothing served: an Isolation Forest
    assert served["training"]["files"] == 5  # Oct 4-8
    [(version, sha256, promoted, replaced, average_precision)] = _registry(warehouse)
    assert (version, sha256, promoted, replaced) == (
        served["model_version"],
        served["model_sha256"],
        True,
        None,
    )
    assert 0 < average_precision <= 1
    [event] = ops_events(warehouse)
    assert event[:4] == ("model_promoted", "info", "model_retrain", "notify")
    assert "no current model" in event[4]

    # The same history trains the same model: not worse than itself, so promoted again,
    # now measured against the served one.
    assert_run(run_dag("model_retrain", LOGICAL_DATE, warehouse, conf))
    second = _registry(warehouse)[1]
    assert second[:4] == (version, sha256, True, version)
    assert second[4] == average_precision
    events = ops_events(warehouse)
    assert [event[0] for event in events] == ["model_promoted"] * 2
    assert "not worse on the held-out window" in events[1][4]
    # The evaluations scored into files only: nothing reached the warehouse's tables.
    with psycopg.connect(warehouse) as connection:
        written = connection.execute(
            "SELECT (SELECT count(*) FROM silver.clean_transactions), "
            "(SELECT count(*) FROM bronze.fraud_alerts)"
        ).fetchone()
    assert written == (0, 0)


CACHE = Path(__file__).resolve().parents[2] / ".cache" / "models"


def _written_since(pattern: str, started: float) -> Path:
    """The one folder of the DAG's cache this test's run wrote (its run id is not reported)."""
    [folder] = [path for path in CACHE.glob(pattern) if path.stat().st_mtime >= started]
    return folder


def _scored_records(folder: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(folder.glob("scored-*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_a_served_supervised_model_is_retrained_as_one_with_the_feedback(
    warehouse: str, dataset: dict[str, str], archive: dict[str, str], tmp_path: Path
) -> None:
    # The served model: a classifier trained on the first days' scored records.
    scored = tmp_path / "scored"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("STREAMFLOW_PG_DSN", raising=False)  # files only
        run(
            [
                f"--input={dataset['events']}",
                f"--feedback={dataset['feedback']}",
                f"--blacklist={dataset['blacklist']}",
                "--no_model",
                f"--output_dir={scored}",
            ]
        )
    champion = tmp_path / "champion"
    train_supervised(
        str(champion),
        [str(scored / "scored-*.jsonl")],
        [dataset["feedback"]],
        train_until="2026-10-06T00:00:00Z",
        labels_at="2026-10-06T00:00:00Z",
    )
    model_dir = tmp_path / "production"
    conf: dict[str, Any] = {**archive, "train_days": 5, "holdout_days": 3}
    conf["model_dir"] = str(model_dir)
    conf["fallback_model"] = str(champion)
    started = time.time()
    assert_run(run_dag("model_retrain", LOGICAL_DATE, warehouse, conf))

    # The challenger is of the served kind, trained on the training days' scored records,
    # labelled with what the feedback said when the training window closed.
    [registered] = _registry(warehouse)
    candidate_dir = _written_since("candidates/*", started)
    candidate = json.loads((candidate_dir / "metadata.json").read_text())
    assert candidate["model_kind"] == "supervised"
    assert candidate["model_version"] == registered[0]
    training = candidate["training"]
    assert (training["train_from"], training["train_until"], training["labels_at"]) == (
        "2026-10-04T00:00:00Z",
        "2026-10-09T00:00:00Z",
        "2026-10-09T00:00:00Z",
    )
    assert training["feedback"] == [f"{archive['feedback_archive']}/date=*/*.jsonl"]
    # Both evaluations were fed the feedback: the store step counted confirmed fraud.
    evaluations = _written_since("evaluations/*", started)
    assert evaluations.name == candidate_dir.name  # the same run's
    for name in ("evaluate_candidate", "evaluate_current"):
        records = _scored_records(evaluations / name)
        assert {record["event_time"][:10] for record in records} == {
            "2026-10-09",
            "2026-10-10",
            "2026-10-11",
        }
        assert any(record["ml_features"].get("store_frauds_30d", 0) > 0 for record in records)
    # Labelled by the feedback as of the interval's end: every held-out record is measured.
    [event] = ops_events(warehouse)
    metrics = event[5]["candidate"]["metrics"]["blend"]
    assert metrics["events"] == len(_scored_records(evaluations / "evaluate_candidate"))


def test_an_evaluation_without_fraud_fails_the_promotion_without_retry_and_notifies(
    warehouse: str, dataset: dict[str, str], archive: dict[str, str], tmp_path: Path
) -> None:
    # A feedback archive with one genuine verdict: the held-out days have no confirmed fraud.
    feedback = tmp_path / "feedback" / "date=2026-10-10"
    feedback.mkdir(parents=True)
    first = json.loads(Path(dataset["events"]).read_text().splitlines()[0])
    verdict = {key: first[key] for key in ("transaction_id", "customer_id", "store_id")}
    verdict |= {"label": "genuine", "reported_at": "2026-10-10T12:00:00Z"}
    (feedback / "feedback.jsonl").write_text(json.dumps(verdict) + "\n")
    model_dir = tmp_path / "production"
    conf: dict[str, Any] = {**archive, "feedback_archive": str(tmp_path / "feedback")}
    conf |= {"train_days": 5, "holdout_days": 3, "model_dir": str(model_dir)}
    conf["fallback_model"] = None  # not even a first model is promoted on no scores
    report = run_dag("model_retrain", LOGICAL_DATE, warehouse, conf)
    assert_run(report, "failed")
    states = task_states(report)
    assert states["promote"] == "failed"
    assert not model_dir.exists()
    assert _registry(warehouse) == []
    [event] = ops_events(warehouse)
    assert event[:4] == ("task_failed", "error", "model_retrain", "promote")
    assert "no scores or a single class" in event[5]["exception"]
    assert event[5]["try_number"] == 1  # refused once, not retried
