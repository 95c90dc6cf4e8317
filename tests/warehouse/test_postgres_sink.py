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
from transforms.postgres_sink import (
    CLEAN_TRANSACTIONS,
    RAW_TRANSACTIONS,
    _WriteBatchFn,
    jsonb_safe,
)


def _scored(tid: str, amount: str) -> dict[str, Any]:
    return {
        "transaction_id": tid,
        "customer_id": "c",
        "store_id": "s",
        "product_id": None,
        "amount": amount,
        "currency": "BRL",
        "payment_method": None,
        "latitude": None,
        "longitude": None,
        "event_time": "2026-10-08T10:00:00.000Z",
        "schema_version": 2,
        "fraud_score": 0.1,
        "rule_score": 0.1,
        "ml_score": None,
        "rules_triggered": [],
        "rule_details": {},
        "is_alert": False,
        "model_version": None,
        "rules_version": "r",
    }


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


def test_fields_jsonb_cannot_store_do_not_fail_the_batch(warehouse: str, tmp_path: Path) -> None:
    huge = payload(event("huge-number")).replace(b'"amount"', b'"note": 1e1000000, "amount"')
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join([payload(event("ok-1")), huge, payload(event("ok-2"))]) + b"\n")
    summary = run(
        [
            f"--input={source}",
            f"--output_dir={tmp_path / 'out'}",
            f"--postgres_dsn={warehouse}",
            "--no_model",
        ]
    )
    assert summary["scored"] == 3
    with psycopg.connect(warehouse) as connection:
        stored = dict(
            connection.execute(
                "SELECT transaction_id, raw_payload FROM bronze.raw_transactions "
                "WHERE transaction_id IN ('ok-1', 'ok-2', 'huge-number')"
            ).fetchall()
        )
    assert set(stored) == {"ok-1", "ok-2", "huge-number"}
    assert stored["huge-number"] == {"raw_text": huge.decode()}
    assert stored["ok-1"]["transaction_id"] == "ok-1"


def test_emoji_escapes_stay_queryable_json() -> None:
    text = payload(event("emoji", note="\U0001f600")).decode()  # json.dumps escapes it
    assert "\\ud83d\\ude00" in text
    assert jsonb_safe(text) == text


def test_a_resent_transaction_with_another_event_time_is_stored_once(warehouse: str) -> None:
    writer = _WriteBatchFn(warehouse, RAW_TRANSACTIONS)
    writer.setup()
    first = {
        "transaction_id": "resent",
        "customer_id": "c",
        "event_time": "2026-10-06T10:00:00.000Z",
        "schema_version": 2,
        "source": "resend:1",
        "raw_payload": "{}",
    }
    second = {**first, "event_time": "2026-10-07T10:00:00.000Z", "source": "resend:2"}
    assert list(writer.process([first])) == [1]
    assert list(writer.process([second])) == [1]
    writer.teardown()
    with psycopg.connect(warehouse) as connection:
        count = connection.execute(
            "SELECT count(*) FROM bronze.raw_transactions WHERE transaction_id = 'resent'"
        ).fetchone()
    assert count == (1,)


def test_a_row_the_table_refuses_costs_only_itself(warehouse: str) -> None:
    writer = _WriteBatchFn(warehouse, CLEAN_TRANSACTIONS)
    writer.setup()
    # amount 0 breaks the table's CHECK: the two good rows still land
    assert list(
        writer.process([_scored("g1", "5.00"), _scored("bad", "0.00"), _scored("g2", "6.00")])
    ) == [2]
    writer.teardown()
    with psycopg.connect(warehouse) as connection:
        rows = connection.execute(
            "SELECT transaction_id FROM silver.clean_transactions "
            "WHERE transaction_id IN ('g1', 'g2', 'bad') ORDER BY 1"
        ).fetchall()
    assert [r[0] for r in rows] == ["g1", "g2"]


def test_silver_replays_change_nothing_and_corrected_resends_win(warehouse: str) -> None:
    writer = _WriteBatchFn(warehouse, CLEAN_TRANSACTIONS)
    writer.setup()

    def current() -> tuple[Any, ...]:
        with psycopg.connect(warehouse) as connection:
            row = connection.execute(
                "SELECT amount, updated_at FROM silver.clean_transactions "
                "WHERE transaction_id = 'u1'"
            ).fetchone()
        assert row is not None
        return tuple(row)

    list(writer.process([_scored("u1", "5.00")]))
    first = current()
    list(writer.process([_scored("u1", "5.00")]))
    assert current() == first
    list(writer.process([_scored("u1", "7.00")]))
    amount, updated_at = current()
    writer.teardown()
    assert str(amount) == "7.00"
    assert updated_at > first[1]
