"""The model_retrain DAG, run for real over an archive: trains a candidate on the training
days, has the pipeline score the held-out days with it (and with the served model, once there
is one), promotes it when not worse, records the decision in the model registry and notifies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pipelines.synthetic import generate_dataset
from pipelines.synthetic.archive import archive_file
from tests.airflow.dag_runs import ops_events, run_dag, task_states

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

# Weekly on Mondays: this run's interval ends on Monday 2026-10-12, so with 3 held-out days
# the model is evaluated on Oct 9-11 and trained on the 5 days before (Oct 4-8).
LOGICAL_DATE = datetime(2026, 10, 12, 5, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("archive")
    dataset = generate_dataset(str(root), seed=9, customers=150, days=10)
    archive_file(dataset.events, root / "days")
    return {
        "archive": str(root / "days"),
        "labels_file": dataset.labels,
        "blacklist": dataset.blacklist,
    }


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
    conf = {**archive, "train_days": 5, "holdout_days": 3, "model_dir": str(model_dir)}
    conf["fallback_model"] = None  # nothing served before: the first candidate is promoted
    report = run_dag("model_retrain", LOGICAL_DATE, warehouse, conf)
    assert report["state"] == "success", report
    assert set(task_states(report).values()) == {"success"}
    served = json.loads((model_dir / "metadata.json").read_text())
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
    assert run_dag("model_retrain", LOGICAL_DATE, warehouse, conf)["state"] == "success"
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
