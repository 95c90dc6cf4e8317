"""The DLQ report over a seeded window: rate, commonest error types, samples, the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from pipelines.warehouse.cli import main
from pipelines.warehouse.dlq_report import dlq_report
from pipelines.warehouse.migrate import migrate
from tests.warehouse.rows import insert_dead_letters, insert_raw_transactions

SINCE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
UNTIL = SINCE + timedelta(minutes=5)


@pytest.fixture
def seeded(empty_dsn: str) -> str:
    migrate(empty_dsn)
    inside = SINCE + timedelta(minutes=2)
    with psycopg.connect(empty_dsn) as connection:
        insert_raw_transactions(connection, 70, inside, inside)
        insert_dead_letters(connection, "INVALID_JSON", "parse", inside, count=20)
        insert_dead_letters(connection, "MISSING_FIELD", "validate", inside, count=10)
        insert_dead_letters(connection, "SINK_REJECTED", "postgres_sink", inside, count=4)
        # Outside the window: neither counted nor listed.
        insert_dead_letters(connection, "PAYLOAD_TOO_LARGE", "parse", UNTIL, 50, prefix="late-")
    return empty_dsn


def test_rate_and_top_error_types_of_the_window(seeded: str) -> None:
    report = dlq_report(seeded, SINCE, UNTIL, top=2, samples=2)
    assert report["input_records"] == 100  # 70 valid + 30 dead; refused rows are not input
    assert report["dlq_rate"] == pytest.approx(0.3)
    assert [
        (entry["error_type"], entry["dead_letters"], entry["stages"])
        for entry in report["top_error_types"]
    ] == [("INVALID_JSON", 20, ["parse"]), ("MISSING_FIELD", 10, ["validate"])]
    samples = report["top_error_types"][0]["sample_dlq_ids"]
    assert len(samples) == 2
    assert all(dlq_id.startswith("parse-") for dlq_id in samples)


def test_an_empty_window_reports_zero(seeded: str) -> None:
    report = dlq_report(seeded, SINCE - timedelta(days=1), SINCE)
    assert (report["input_records"], report["dlq_rate"], report["top_error_types"]) == (0, 0, [])


def test_cli_prints_the_report(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    window = ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
    assert main(["dlq-report", "--dsn", seeded, *window, "--top", "1"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [entry["error_type"] for entry in printed["top_error_types"]] == ["INVALID_JSON"]
