"""The model_retrain DAG, run for real over an archive and a feedback archive: retrains the
served kind of model on the training days, has the pipeline score the held-out days with it
and with the served model (once there is one), both fed the same feedback and labelled with
what the feedback said, promotes it when not worse, records the decision in the model registry
and notifies (and, when asked, registers the promoted model for running jobs on a real broker);
an evaluation without scores fails the promotion, without retry, and notifies."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ml.supervised import confirmed_frauds, read_lines, train_supervised, training_set
from pipelines.fraud import run
from pipelines.synthetic import generate_dataset
from pipelines.synthetic.archive import archive_file, write_feedback_archive
from tests.airflow.dag_runs import assert_run, ops_events, run_dag, task_states
from tests.console.relay_check import read_topic
from tests.kafka.conftest import bootstrap_servers, topics  # noqa: F401 (fixtures)
from tests.kafka.live import Topics
from transforms.domain.config import default_rules
from transforms.domain.event_time import parse_timestamp
from transforms.domain.model_registry import ModelChange
from transforms.domain.scoring_registry import parse_registered_change

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

# Weekly on Mondays: this run's interval ends on Monday 2026-10-26 04:00, the evaluation's
# moment. Fraud is reported 7 days after it happens plus up to a day (the generator's default),
# so with the DAG's default label_delay_days (8) and 3 held-out days the models are evaluated on
# Oct 15-17, whose frauds are all reported by then, and trained on the 5 days ending 8 days
# before (Oct 2-6), labelled with what the feedback said on Oct 15. The archive runs up to the
# interval's end, as a live one would: the week just ended is there, but its frauds are not
# reported yet.
LOGICAL_DATE = datetime(2026, 10, 26, 5, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("archive")
    generated = generate_dataset(str(root), seed=9, customers=150, days=25)
    archive_file(generated.events, root / "days")
    write_feedback_archive(Path(generated.feedback).read_bytes().splitlines(), root / "feedback")
    return {
        "archive": str(root / "days"),
        "feedback_archive": str(root / "feedback"),
        "blacklist": generated.blacklist,
        "events": generated.events,
        "feedback": generated.feedback,
        "labels": generated.labels,
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
            "WHERE effective_from IS NULL ORDER BY registry_id"
        ).fetchall()


@pytest.mark.kafka
def test_a_candidate_is_trained_evaluated_promoted_and_registered(
    warehouse: str,
    archive: dict[str, str],
    tmp_path: Path,
    bootstrap_servers: str,  # noqa: F811
    topics: Topics,  # noqa: F811
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
    assert served["training"]["files"] == 5  # Oct 2-6
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
    # now measured against the served one; and this time registered for the running jobs.
    conf["live_effective_after_minutes"] = 5
    conf["kafka_bootstrap_servers"] = bootstrap_servers
    conf["rules_topic"] = topics.rules
    conf["releases_dir"] = str(tmp_path / "releases")
    started = datetime.now(UTC)
    second_run = run_dag("model_retrain", LOGICAL_DATE, warehouse, conf)
    assert_run(second_run)
    assert task_states(second_run)["register_for_running_jobs"] == "success"
    [record] = read_topic(bootstrap_servers, topics.rules, 1)
    change = parse_registered_change(record.value(), default_rules())
    assert isinstance(change, ModelChange)
    assert (change.model_version, change.sha256) == (version, sha256)
    # A lasting copy by version, not ml.promote's release (deleted two promotions later).
    assert change.location == str(tmp_path / "releases" / version)
    assert (tmp_path / "releases" / version / "model.joblib").read_bytes() == (
        model_dir / "model.joblib"
    ).read_bytes()
    assert change.author == "model_retrain"
    assert change.effective_from_ms >= (started.timestamp() + 5 * 60) * 1000
    with psycopg.connect(warehouse) as connection:
        live = connection.execute(
            "SELECT model_version, location, published_at IS NOT NULL FROM silver.model_registry "
            "WHERE effective_from IS NOT NULL"
        ).fetchall()
    assert live == [(version, change.location, True)]
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
    # The served model: a classifier trained on the first week's scored records, labelled as
    # known a reporting delay (8 days) later.
    scored = tmp_path / "scored"
    first_week = [
        f"--input={archive['archive']}/date=2026-10-0{day}/*.jsonl" for day in range(1, 8)
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("STREAMFLOW_PG_DSN", raising=False)  # files only
        run(
            [
                *first_week,
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
        labels_at="2026-10-14T00:00:00Z",
    )
    model_dir = tmp_path / "production"
    conf: dict[str, Any] = {**archive, "train_days": 5, "holdout_days": 3}
    conf["model_dir"] = str(model_dir)
    conf["fallback_model"] = str(champion)
    verdict = _analyst_confirms_a_genuine_training_day_transaction(warehouse, dataset)
    started = time.time()
    assert_run(run_dag("model_retrain", LOGICAL_DATE, warehouse, conf))

    # The challenger is of the served kind, trained on the training days' scored records,
    # labelled with what the feedback said a reporting delay after the window closed: its
    # frauds are known.
    [registered] = _registry(warehouse)
    candidate_dir = _written_since("candidates/*", started)
    candidate = json.loads((candidate_dir / "metadata.json").read_text())
    assert candidate["model_kind"] == "supervised"
    assert candidate["model_version"] == registered[0]
    training = candidate["training"]
    assert (training["train_from"], training["train_until"], training["labels_at"]) == (
        "2026-10-02T00:00:00Z",
        "2026-10-07T00:00:00Z",
        "2026-10-15T00:00:00Z",
    )
    assert training["fraud_rows"] > 0
    assert training["feedback"] == [f"{archive['feedback_archive']}/date=*/*.jsonl"]
    # The analyst's verdict from the warehouse is one of the labels the training counted.
    exported = Path(archive["feedback_archive"]) / "date=2026-10-10" / "warehouse.jsonl"
    assert json.loads(exported.read_text())["feedback_id"] == verdict["feedback_id"]
    labels_at = parse_timestamp(training["labels_at"], None)
    bounds = [parse_timestamp(training[k], None) for k in ("train_from", "train_until")]
    with_verdict = confirmed_frauds(read_lines(training["feedback"]), labels_at)
    assert verdict["transaction_id"] in with_verdict
    counted = training_set(read_lines(training["scored"]), with_verdict, *bounds)
    assert verdict["transaction_id"] in counted.transaction_ids
    assert int(counted.labels.sum()) == training["fraud_rows"]
    without = training_set(
        read_lines(training["scored"]), with_verdict - {verdict["transaction_id"]}, *bounds
    )
    assert training["fraud_rows"] == int(without.labels.sum()) + 1
    # Both evaluations were fed the feedback: the store step counted confirmed fraud.
    evaluations = _written_since("evaluations/*", started)
    assert evaluations.name == candidate_dir.name  # the same run's
    for name in ("evaluate_candidate", "evaluate_current"):
        records = _scored_records(evaluations / name)
        assert {record["event_time"][:10] for record in records} == {
            "2026-10-15",
            "2026-10-16",
            "2026-10-17",
        }
        assert any(record["ml_features"].get("store_frauds_30d", 0) > 0 for record in records)
    # Both measured (two classes, not NOT_MEASURED), labelled by the feedback as of the
    # interval's end: every held-out record counts, and every held-out fraud was reported by
    # then.
    [event] = ops_events(warehouse)
    held_out = _scored_records(evaluations / "evaluate_candidate")
    for whose in ("candidate", "current"):
        metrics = event[5][whose]["metrics"]["blend"]
        assert "note" not in metrics, metrics
        assert metrics["events"] == len(held_out)
        assert 0 < metrics["average_precision"] <= 1
    labels = map(json.loads, Path(dataset["labels"]).read_text().splitlines())
    frauds = {label["transaction_id"] for label in labels if label["is_fraud"]}
    reports = map(json.loads, Path(dataset["feedback"]).read_text().splitlines())
    reported_at = {report["transaction_id"]: report["reported_at"] for report in reports}
    held_out_reports = [
        reported_at[record["transaction_id"]]
        for record in held_out
        if record["transaction_id"] in frauds
    ]
    assert held_out_reports
    assert max(held_out_reports) < "2026-10-26T04:00:00+00:00"


def _analyst_confirms_a_genuine_training_day_transaction(
    warehouse: str, dataset: dict[str, str]
) -> dict[str, str]:
    """A verdict given in the console (a silver.feedback row): fraud, on a transaction of the
    training days (Oct 2-6) the generated feedback never reported, reported on Oct 10."""
    labels = [json.loads(line) for line in Path(dataset["labels"]).read_text().splitlines()]
    events = {}
    for line in Path(dataset["events"]).read_bytes().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # the generator's malformed lines, some not UTF-8
        if isinstance(event, dict) and isinstance(event.get("transaction_id"), str):
            events[event["transaction_id"]] = event
    genuine = next(
        events[label["transaction_id"]]
        for label in labels
        if not label["is_fraud"]
        and label["transaction_id"] in events
        and "2026-10-03" <= events[label["transaction_id"]]["timestamp"][:10] <= "2026-10-05"
    )
    verdict = {
        "feedback_id": "6f2d0c7e-3d1b-4a55-9a8e-1d3c8f0b9a01",
        "transaction_id": genuine["transaction_id"],
    }
    with psycopg.connect(warehouse, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO silver.feedback (feedback_id, transaction_id, customer_id, store_id, "
            "label, reported_at, source) VALUES (%s, %s, %s, %s, 'fraud', "
            "'2026-10-10T12:00:00Z', 'console')",
            (
                verdict["feedback_id"],
                genuine["transaction_id"],
                genuine["customer_id"],
                genuine["store_id"],
            ),
        )
    return verdict


def test_an_evaluation_without_fraud_fails_the_promotion_without_retry_and_notifies(
    warehouse: str, dataset: dict[str, str], archive: dict[str, str], tmp_path: Path
) -> None:
    # A feedback archive with one genuine verdict: the held-out days have no confirmed fraud.
    feedback = tmp_path / "feedback" / "date=2026-10-10"
    feedback.mkdir(parents=True)
    first = json.loads(
        Path(dataset["events"]).read_bytes().splitlines()[0]
    )  # some lines are not UTF-8
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
