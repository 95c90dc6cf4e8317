"""The rules_backtest DAG, run for real: the warehouse's verdicts and registry exported, then
``pipelines.backtest`` in the pipeline's interpreter with the warehouse kept out of its
environment. Its report lands in the output folder, and the warehouse gains no scored row."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pipelines.synthetic import generate_dataset
from pipelines.synthetic.archive import archive_file, write_feedback_archive
from tests.airflow.dag_runs import assert_run, run_dag

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("backtest-history")
    data = generate_dataset(str(root), seed=9, customers=150, days=8, feedback_delay_days=1)
    archive_file(data.events, root / "days")
    write_feedback_archive(Path(data.feedback).read_bytes().splitlines(), root / "feedback")
    (root / "lower.yaml").write_text("alert_threshold: 0.45\n")
    return {
        "archive": str(root / "days"),
        "feedback_archive": str(root / "feedback"),
        "candidate_rules": str(root / "lower.yaml"),
    }


def test_the_dag_reports_what_the_candidate_would_have_done(
    warehouse: str, history: dict[str, str], tmp_path: Path
) -> None:
    conf: dict[str, Any] = {
        **history,
        "start": "2026-10-04",
        "end": "2026-10-07",
        "warmup_days": 3,
        "model": "none",
        "output_dir": str(tmp_path / "backtest"),
    }
    report = run_dag("rules_backtest", datetime.now(UTC), warehouse, conf)
    assert_run(
        report,
        "success",
        {"export_feedback": "success", "export_registry": "success", "backtest": "success"},
    )
    written = json.loads((tmp_path / "backtest" / "report.json").read_text())
    assert written["candidate"]["alerts"] > written["champion"]["alerts"] > 0
    assert written["gained"]["alerts"] > 0
    assert (tmp_path / "backtest" / "alerts_per_day.png").stat().st_size > 0
    assert (tmp_path / "backtest.rules.jsonl").read_text() == ""  # an empty registry
    with psycopg.connect(warehouse) as connection:
        row = connection.execute("SELECT count(*) FROM silver.clean_transactions").fetchone()
    assert row == (0,)
