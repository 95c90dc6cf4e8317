"""The pipeline's PostgreSQL sinks on a real PostgreSQL: idempotence, conservation, retries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pipelines.fraud import run
from pipelines.migrate import migrate
from tests.factories import event, payload
from transforms.domain.synthetic import generate_dataset
from transforms.postgres_sink import RAW_TRANSACTIONS, _WriteBatchFn, jsonb_safe

TABLES = (
    "bronze.raw_transactions",
    "silver.clean_transactions",
    "bronze.fraud_alerts",
    "bronze.dlq_events",
)


@pytest.fixture(scope="module")
def warehouse(fresh_dsn: str) -> str:
    migrate(fresh_dsn)
    return fresh_dsn


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_dataset(
        str(tmp_path_factory.mktemp("data")), seed=5, customers=80, days=8, malformed_rate=0.03
    )


def _counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as connection:
        return {t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def _run(dataset: Any, dsn: str, out: Path) -> dict[str, Any]:
    return run(
        [
            f"--input={dataset.events}",
            f"--blacklist={dataset.blacklist}",
            f"--output_dir={out}",
            f"--postgres_dsn={dsn}",
            "--no_model",
        ]
    )


def test_pipeline_fills_the_warehouse_once_even_when_replayed(
    dataset: Any, warehouse: str, tmp_path: Path
) -> None:
    summary = _run(dataset, warehouse, tmp_path / "first")
    first = _counts(warehouse)
    assert first == {
        "bronze.raw_transactions": summary["scored"],
        "silver.clean_transactions": summary["scored"],
        "bronze.fraud_alerts": summary["alerts"],
        "bronze.dlq_events": summary["dlq"],
    }
    _run(dataset, warehouse, tmp_path / "second")
    assert _counts(warehouse) == first


def test_every_input_line_is_in_silver_or_in_the_dlq_table(dataset: Any, warehouse: str) -> None:
    with psycopg.connect(warehouse) as connection:
        clean = {
            r[0] for r in connection.execute("SELECT transaction_id FROM silver.clean_transactions")
        }
        dead = {
            int(r[0].rsplit(":", 1)[1])
            for r in connection.execute("SELECT source FROM bronze.dlq_events")
        }
    with open(dataset.events, "rb") as handle:
        lines = list(handle)
    missing = [
        number
        for number, line in enumerate(lines, start=1)
        if line.strip() and number not in dead and json.loads(line)["transaction_id"] not in clean
    ]
    assert missing == []
    assert dead  # the data set has malformed lines


def test_payloads_jsonb_cannot_hold_are_kept_as_text(warehouse: str) -> None:
    odd = payload(event("nul-inside", note="a\u0000b")).decode()
    assert json.loads(jsonb_safe(odd)) == {"raw_text": odd}
    plain = payload(event("plain")).decode()
    assert jsonb_safe(plain) == plain


def test_a_dropped_connection_retries_the_whole_batch(warehouse: str) -> None:
    writer = _WriteBatchFn(warehouse, RAW_TRANSACTIONS)
    writer.setup()

    def raw(tid: str) -> dict[str, Any]:
        return {
            "transaction_id": tid,
            "customer_id": "c",
            "event_time": "2026-10-05T10:00:00.000Z",
            "schema_version": 2,
            "source": f"retry-test:{tid}",
            "raw_payload": "{}",
        }

    assert list(writer.process([raw("r1")])) == [1]
    with psycopg.connect(warehouse, autocommit=True) as admin:
        pid = writer._connection.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert list(writer.process([raw("r2"), raw("r3")])) == [2]
    writer.teardown()
    with psycopg.connect(warehouse) as connection:
        rows = connection.execute(
            "SELECT transaction_id FROM bronze.raw_transactions "
            "WHERE source LIKE 'retry-test:%' ORDER BY 1"
        ).fetchall()
    assert [r[0] for r in rows] == ["r1", "r2", "r3"]
