"""The fraud_backfill DAG, run for real: ``dag.test()`` plans the run, Beam's Airflow operator
runs ``pipelines.fraud`` with the pipeline's interpreter over an archive of one folder per day,
and the gold refresh follows. The backfilled day lands in the warehouse scored exactly as a run
over the whole history scored it (the warm-up days are read, not written), and a second
backfill of the same day adds nothing. A plan refused (a day missing from the archive) fails
without retry and notifies with its reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pipelines.fraud import run
from pipelines.synthetic import generate_dataset
from pipelines.synthetic.archive import archive_file
from tests.airflow.dag_runs import assert_run, ops_events, run_dag
from tests.airflow.webhook import recording_webhook
from tests.output_files import read_records

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAY = "2026-10-08"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The archive, and what a run over all of it scored on DAY."""
    root = tmp_path_factory.mktemp("archive")
    dataset = generate_dataset(str(root), seed=5, customers=150, days=10, malformed_rate=0.05)
    archive_file(dataset.events, root / "days")
    full = root / "full"
    run(
        [
            f"--input={dataset.events}",
            f"--output_dir={full}",
            "--no_model",
            f"--blacklist={dataset.blacklist}",
        ]
    )
    of_day = [r for r in read_records(full, "scored") if r["event_time"].startswith(DAY)]
    return {
        "days": str(root / "days"),
        "blacklist": dataset.blacklist,
        "scores": {r["transaction_id"]: r["fraud_score"] for r in of_day},
        "alerts": {
            r["transaction_id"]
            for r in read_records(full, "alerts")
            if r["event_time"].startswith(DAY)
        },
    }


def _warehouse_rows(dsn: str) -> dict[str, Any]:
    with psycopg.connect(dsn) as connection:
        silver = connection.execute(
            "SELECT transaction_id, fraud_score FROM silver.clean_transactions"
        ).fetchall()
        alerts = connection.execute("SELECT transaction_id FROM bronze.fraud_alerts").fetchall()
        facts = connection.execute("SELECT count(*) FROM gold.fact_transactions").fetchone()
        days = connection.execute(
            "SELECT DISTINCT (event_time AT TIME ZONE 'UTC')::date::text "
            "FROM silver.clean_transactions"
        ).fetchall()
        dead = connection.execute("SELECT source FROM bronze.dlq_events").fetchall()
    return {
        "scores": dict(silver),
        "alerts": {tid for (tid,) in alerts},
        "facts": facts[0] if facts else None,
        "days": {day for (day,) in days},
        "dead_letter_days": {source.split("date=")[1][:10] for (source,) in dead},
    }


def _backfill(warehouse: str, archive: dict[str, Any], tmp_path: Path, runner: str) -> None:
    conf = {
        "start": DAY,
        "end": DAY,
        "archive": archive["days"],
        "runner": runner,
        "model": "none",
        "blacklist": archive["blacklist"],
        "output_dir": str(tmp_path / "out"),
    }
    report = run_dag("fraud_backfill", datetime.now(UTC), warehouse, conf)
    assert_run(
        report, "success", {"plan": "success", "score": "success", "refresh_gold": "success"}
    )


@pytest.mark.parametrize(
    "runner", ["FnApiRunner", pytest.param("FlinkRunner", marks=pytest.mark.flink)]
)
def test_a_backfilled_day_equals_the_full_run(
    warehouse: str, archive: dict[str, Any], tmp_path: Path, runner: str
) -> None:
    _backfill(warehouse, archive, tmp_path, runner)
    rows = _warehouse_rows(warehouse)
    assert rows["days"] == {DAY}  # the warm-up days were read, never written
    assert rows["dead_letter_days"] == {DAY}  # their dead letters neither
    assert rows["scores"] == pytest.approx(archive["scores"])
    assert rows["alerts"] == archive["alerts"]
    assert len(archive["alerts"]) > 0
    assert rows["facts"] == len(archive["scores"])  # gold refreshed for the run's rows
    _backfill(warehouse, archive, tmp_path, runner)
    assert _warehouse_rows(warehouse) == rows


def test_a_refused_plan_notifies_its_reason_once(warehouse: str, tmp_path: Path) -> None:
    archived = tmp_path / "days" / "date=2026-10-01"
    archived.mkdir(parents=True)
    (archived / "events.jsonl").write_text("{}\n")
    conf = {
        "start": "2026-10-01",
        "end": "2026-10-02",
        "archive": str(tmp_path / "days"),
        "model": "none",
        "output_dir": str(tmp_path / "out"),
    }
    with recording_webhook() as (url, posted):
        webhook = json.dumps({"conn_type": "http", "host": url})
        report = run_dag(
            "fraud_backfill",
            datetime.now(UTC),
            warehouse,
            conf,
            environment={"AIRFLOW_CONN_STREAMFLOW_WEBHOOK": webhook},
        )
    assert_run(
        report,
        "failed",
        {"plan": "failed", "score": "upstream_failed", "refresh_gold": "upstream_failed"},
    )
    reason = f"no archived events for 2026-10-02 under {tmp_path / 'days'}"
    # A failed task's log tail comes with the report (what a failing DAG test shows).
    assert any(reason in line for line in report["failed_task_logs"]["plan"])
    [event] = posted  # once: a retry would be refused again
    assert (event["kind"], event["task_id"]) == ("task_failed", "plan")
    assert reason in event["details"]["exception"]
    [(kind, _, _, task_id, _, details)] = ops_events(warehouse)
    assert (kind, task_id) == ("task_failed", "plan")
    assert reason in details["exception"]
