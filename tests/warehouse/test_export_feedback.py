"""export-feedback: the warehouse's verdicts in the feedback archive's layout, read back by the
same code that reads the archive's other files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from ml.supervised import confirmed_frauds, read_lines
from pipelines.warehouse.export_feedback import EXPORT_FILE, export_feedback
from pipelines.warehouse.migrate import migrate
from pipelines.warehouse.options import DSN_VARIABLE
from transforms.domain.event_time import parse_timestamp


@pytest.fixture(scope="module")
def warehouse(fresh_dsn: str) -> str:
    migrate(fresh_dsn)
    with psycopg.connect(fresh_dsn, autocommit=True) as connection:
        for feedback_id, transaction, label, reported_at in (
            ("00000000-0000-4000-8000-000000000001", "t1", "fraud", "2026-11-01T23:30:00-03:00"),
            ("00000000-0000-4000-8000-000000000002", "t2", "fraud", "2026-11-02T10:00:00Z"),
            ("00000000-0000-4000-8000-000000000003", "t2", "genuine", "2026-11-03T10:00:00Z"),
        ):
            connection.execute(
                "INSERT INTO silver.feedback (feedback_id, transaction_id, customer_id, "
                "store_id, label, reported_at, source) VALUES (%s, %s, 'c', 's', %s, %s, "
                "'console')",
                (feedback_id, transaction, label, reported_at),
            )
    return fresh_dsn


def test_each_report_day_gets_its_file_and_the_readers_agree(
    warehouse: str, tmp_path: Path
) -> None:
    (tmp_path / "date=2026-11-02").mkdir()
    (tmp_path / "date=2026-11-02" / "feedback.jsonl").write_text("")  # another source's file
    assert export_feedback(warehouse, tmp_path) == {"days": 2, "records": 3}
    # The UTC day: 23:30 at -03:00 on Nov 1 is Nov 2.
    day = json.loads((tmp_path / "date=2026-11-02" / EXPORT_FILE).read_text().splitlines()[0])
    assert day["transaction_id"] == "t1"
    assert day["feedback_id"] == "00000000-0000-4000-8000-000000000001"
    assert (tmp_path / "date=2026-11-02" / "feedback.jsonl").exists()
    pattern = [f"{tmp_path}/date=*/*.jsonl"]
    assert confirmed_frauds(read_lines(pattern), None) == {"t1"}  # t2's later word: genuine
    at = parse_timestamp("2026-11-02T12:00:00Z", None)
    assert confirmed_frauds(read_lines(pattern), at) == {"t1", "t2"}
    # A rerun rewrites the same files, and leaves no temporary file behind.
    assert export_feedback(warehouse, tmp_path) == {"days": 2, "records": 3}
    assert not list(tmp_path.rglob(".*.tmp"))


def test_the_command_prints_its_counts_and_fails_in_one_line(
    warehouse: str, tmp_path: Path
) -> None:
    environment = {**os.environ, DSN_VARIABLE: warehouse}
    command = [sys.executable, "-m", "pipelines.warehouse", "export-feedback", "--archive"]
    done = subprocess.run(
        [*command, str(tmp_path)], capture_output=True, text=True, env=environment, check=True
    )
    assert json.loads(done.stdout) == {"days": 2, "records": 3}
    blocked = tmp_path / "file"
    blocked.write_text("")
    failed = subprocess.run(
        [*command, str(blocked / "archive")], capture_output=True, text=True, env=environment
    )
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1
    assert "Traceback" not in failed.stderr
