"""The pipeline's PostgreSQL sinks on a real PostgreSQL: idempotence, conservation, retries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pipelines.fraud import main, run
from pipelines.options import LaunchError
from pipelines.synthetic import generate_dataset
from pipelines.warehouse.migrate import discover, migrate
from pipelines.warehouse.options import DSN_VARIABLE
from pipelines.warehouse.sql_files import sql_folder
from tests.factories import event, payload
from transforms import postgres_sink
from transforms.domain.dlq import build_dlq_record
from transforms.domain.json_fields import ErrorType
from transforms.domain.store_minutes import minute_record
from transforms.postgres_sink import (
    CLEAN_TRANSACTIONS,
    DLQ_EVENTS,
    FRAUD_ALERTS,
    RAW_TRANSACTIONS,
    STORE_MINUTES,
    TableWrite,
    _WriteBatchFn,
    jsonb_safe,
    rejected_record,
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
    assert _sink_counters(summary) == {(table, "written"): rows for table, rows in first.items()}
    replay = _run(dataset, warehouse, tmp_path / "second")
    assert _counts(warehouse) == first
    # The replay attempted every row again and wrote none: the counters say so.
    assert _sink_counters(replay) == {(table, "skipped"): rows for table, rows in first.items()}


def _sink_counters(summary: dict[str, Any]) -> dict[tuple[str, str], int]:
    """The sinks' non-zero postgres_<outcome>_<table> counters, by (table, outcome)."""
    found = {}
    for name, value in summary["counters"].items():
        outcome, _, table = name.removeprefix("postgres_").partition("_")
        if name.startswith("postgres_") and value:
            found[(table, outcome)] = value
    return found


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
    writer = _writer(warehouse, RAW_TRANSACTIONS)
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
    assert list(writer.process([second])) == [0]
    writer.teardown()
    assert (writer._written.value, writer._skipped.value) == (1, 1)
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


def test_a_store_minute_keeps_its_latest_pane_whatever_the_order_of_arrival(
    warehouse: str,
) -> None:
    start_ms = 1_790_000_040_000
    early = minute_record("S9", start_ms, [2, 1500, 0, 1, {"pix": 1500}], 0, "EARLY")
    on_time = minute_record("S9", start_ms, [3, 2500, 1, 1, {"pix": 2500}], 1, "ON_TIME")
    writer = _writer(warehouse, STORE_MINUTES)

    def row() -> tuple[Any, ...]:
        with psycopg.connect(warehouse) as connection:
            found = connection.execute(
                "SELECT transactions, amount::text, alerts, dead_letters, "
                "amount_by_payment_method, pane_index, pane_timing "
                "FROM silver.store_minute_metrics WHERE window_key = %s",
                (early["window_key"],),
            ).fetchone()
        assert found is not None
        return tuple(found)

    # Two panes of a new minute in one batch: the newer is written, whatever their order.
    list(writer.process([on_time, early]))
    assert row()[5] == 1
    with psycopg.connect(warehouse) as connection:
        connection.execute("DELETE FROM silver.store_minute_metrics")
    list(writer.process([early]))
    assert row() == (2, "15.00", 0, 1, {"pix": "15.00"}, 0, "EARLY")
    list(writer.process([on_time]))
    latest = row()
    assert latest == (3, "25.00", 1, 1, {"pix": "25.00"}, 1, "ON_TIME")
    # A restore from a checkpoint replays an older pane: the newer one stays.
    list(writer.process([early]))
    list(writer.process([on_time, early]))
    assert row() == latest
    # After a restore, the minute's last pane may carry a lower index than one written before
    # the failure (early panes fire on processing time); it holds more: it wins.
    restored = minute_record("S9", start_ms, [4, 2600, 1, 1, {"pix": 2600}], 1, "ON_TIME")
    before_failure = minute_record("S9", start_ms, [3, 2500, 1, 1, {"pix": 2500}], 7, "EARLY")
    list(writer.process([before_failure]))
    list(writer.process([restored]))
    writer.teardown()
    assert row() == (4, "26.00", 1, 1, {"pix": "26.00"}, 1, "ON_TIME")


@pytest.fixture
def own_warehouse(empty_dsn: str) -> str:
    """For tests that leave DLQ rows whose source is not a line of the shared data set."""
    migrate(empty_dsn)
    return empty_dsn


class _Tally:
    """Stands in for a Beam counter, which counts nothing outside a pipeline."""

    def __init__(self) -> None:
        self.value = 0

    def inc(self, n: int = 1) -> None:
        self.value += n


def _writer(dsn: str, table: TableWrite) -> _WriteBatchFn:
    writer = _WriteBatchFn(dsn, table)
    writer.setup()
    writer._written, writer._skipped = _Tally(), _Tally()
    writer._rejected, writer._dead_lettered, writer._lost = _Tally(), _Tally(), _Tally()
    return writer


def _dead_letters(dsn: str, source: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as connection:
        return [
            tuple(row)
            for row in connection.execute(
                "SELECT error_type, error_message, stage, raw_payload FROM bronze.dlq_events "
                "WHERE source = %s",
                (source,),
            ).fetchall()
        ]


def test_a_refused_row_lands_in_the_dlq_table_once_however_often_replayed(
    own_warehouse: str,
) -> None:
    bad = _scored("refused-1", "0.00")  # amount 0 breaks the table's CHECK
    for written in (1, 0):  # the second pass is a replay: kept-1 is already there
        writer = _writer(own_warehouse, CLEAN_TRANSACTIONS)
        assert list(writer.process([_scored("kept-1", "5.00"), bad])) == [written]
        writer.teardown()
        assert (writer._written.value, writer._skipped.value) == (written, 1 - written)
        assert (writer._rejected.value, writer._dead_lettered.value) == (1, 1)
    [(error_type, message, stage, raw_payload)] = _dead_letters(
        own_warehouse, "silver.clean_transactions:refused-1"
    )
    assert (error_type, stage) == ("SINK_REJECTED", "postgres_sink")
    assert message.startswith("silver.clean_transactions refused the row (23514): ")
    assert "clean_transactions_amount_check" in message
    assert json.loads(raw_payload) == bad


def test_a_replayed_alert_refused_again_finds_its_dlq_row(own_warehouse: str) -> None:
    alert = {
        **_scored("alert-t", "5.00"),
        "alert_id": "6f1c1d5e-1b1a-4a57-9a43-0c2a4d7f0001",
        "fraud_score": 1.5,  # beyond the CHECK's [0, 1]
        "explanation": "x",
        "detected_at": "2026-10-08T10:00:01.000Z",
    }
    for detected_at in ("2026-10-08T10:00:01.000Z", "2026-10-09T08:00:00.000Z"):
        writer = _writer(own_warehouse, FRAUD_ALERTS)
        assert list(writer.process([{**alert, "detected_at": detected_at}])) == [0]
        writer.teardown()
    [(error_type, _, _, raw_payload)] = _dead_letters(
        own_warehouse, f"bronze.fraud_alerts:{alert['alert_id']}"
    )
    assert error_type == "SINK_REJECTED"
    assert json.loads(raw_payload)["detected_at"] == "2026-10-08T10:00:01.000Z"


def test_a_corrected_resend_refused_again_gets_a_dlq_row_of_its_own(own_warehouse: str) -> None:
    first = {**_scored("resent-1", "5.00"), "fraud_score": 1.5}
    corrected = {**first, "fraud_score": 2.5}  # fixed upstream, still out of range
    for record in (first, corrected, first):
        writer = _writer(own_warehouse, CLEAN_TRANSACTIONS)
        assert list(writer.process([record])) == [0]
        writer.teardown()
    payloads = [
        json.loads(raw)["fraud_score"]
        for _, _, _, raw in _dead_letters(own_warehouse, "silver.clean_transactions:resent-1")
    ]
    assert sorted(payloads) == [1.5, 2.5]


def test_a_row_refused_while_staged_is_dead_lettered_too(own_warehouse: str) -> None:
    # a NULL customer fails the staging table's NOT NULL, before the statement runs
    row = {
        "transaction_id": "no-customer",
        "customer_id": None,
        "event_time": "2026-10-05T11:00:00.000Z",
        "schema_version": 2,
        "source": "null-test:1",
        "raw_payload": '{"transaction_id": "no-customer"}',
    }
    writer = _writer(own_warehouse, RAW_TRANSACTIONS)
    assert list(writer.process([row])) == [0]
    writer.teardown()
    [(error_type, message, _, raw_payload)] = _dead_letters(
        own_warehouse, "bronze.raw_transactions:no-customer"
    )
    assert error_type == "SINK_REJECTED"
    assert "(23502)" in message
    assert json.loads(raw_payload)["raw_payload"] == row["raw_payload"]


def test_a_row_the_dlq_table_refuses_too_is_counted_and_logged(
    own_warehouse: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unwritable(*args: Any) -> dict[str, Any]:
        return {**rejected_record(*args), "error_type": "NOT_A_TYPE"}  # the CHECK refuses it

    monkeypatch.setattr(postgres_sink, "rejected_record", unwritable)
    writer = _writer(own_warehouse, CLEAN_TRANSACTIONS)
    assert list(writer.process([_scored("lost-1", "0.00"), _scored("kept-2", "5.00")])) == [1]
    writer.teardown()
    assert (writer._rejected.value, writer._dead_lettered.value, writer._lost.value) == (1, 0, 1)
    assert "lost-1 lost, the DLQ refused it too" in caplog.text
    assert _dead_letters(own_warehouse, "silver.clean_transactions:lost-1") == []


def test_every_error_type_fits_the_dlq_table(empty_dsn: str) -> None:
    migrate(empty_dsn)
    records = [
        build_dlq_record(
            error_type=kind,
            error_message="m",
            stage="s",
            source=f"types:{kind.value}",
            raw_payload=b"{}",
            received_at="2026-10-05T10:00:00+00:00",
            pipeline_version="v",
        )
        for kind in ErrorType
    ]
    writer = _writer(empty_dsn, DLQ_EVENTS)
    assert list(writer.process(records)) == [len(ErrorType)]
    writer.teardown()
    assert writer._rejected.value == 0


def test_of_two_records_with_one_key_in_a_batch_bronze_keeps_the_first_silver_the_last(
    warehouse: str,
) -> None:
    raw = {
        "transaction_id": "twice",
        "customer_id": "c",
        "event_time": "2026-10-05T12:00:00.000Z",
        "schema_version": 2,
        "source": "twice:1",
        "raw_payload": "{}",
    }
    writer = _writer(warehouse, RAW_TRANSACTIONS)
    later = {**raw, "source": "twice:2", "event_time": "2026-10-06T12:00:00.000Z"}
    assert list(writer.process([raw, later])) == [1]
    writer.teardown()
    assert (writer._written.value, writer._skipped.value) == (1, 1)
    writer = _writer(warehouse, CLEAN_TRANSACTIONS)
    assert list(writer.process([_scored("twice", "5.00"), _scored("twice", "7.00")])) == [1]
    writer.teardown()
    assert (writer._written.value, writer._skipped.value) == (1, 1)
    with psycopg.connect(warehouse) as connection:
        sources = connection.execute(
            "SELECT source FROM bronze.raw_transactions WHERE transaction_id = 'twice'"
        ).fetchall()
        amount = connection.execute(
            "SELECT amount FROM silver.clean_transactions WHERE transaction_id = 'twice'"
        ).fetchone()
    assert sources == [("twice:1",)]
    assert amount is not None
    assert str(amount[0]) == "7.00"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ('{"a": "\\\\u0000"}', True),  # an escaped backslash: the text "\u0000", no NUL
        ('{"a": "São\\u0000"}', False),  # non-ASCII and a NUL escape
        ('{"a": "São"}', True),
        ('{"a": ["ok", "\\ud800"]}', False),  # a lone surrogate, in a list
        ('{"a": 1e400000}', False),
        ("{oops", False),
    ],
)
def test_jsonb_safe_keeps_exactly_what_jsonb_accepts(warehouse: str, text: str, kept: bool) -> None:
    assert (jsonb_safe(text) == text) is kept
    with psycopg.connect(warehouse) as connection:
        stored = connection.execute("SELECT %s::jsonb", (jsonb_safe(text),)).fetchone()
    assert stored is not None


def test_the_pipeline_writes_to_the_warehouse_the_environment_names(
    own_warehouse: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "events.jsonl"
    source.write_bytes(payload(event("from-env-1")) + b"\n" + payload(event("from-env-2")) + b"\n")
    monkeypatch.setenv(DSN_VARIABLE, own_warehouse)
    summary = run([f"--input={source}", f"--output_dir={tmp_path / 'out'}", "--no_model"])
    assert summary["scored"] == 2
    assert _counts(own_warehouse)["silver.clean_transactions"] == 2


def test_an_unmigrated_warehouse_stops_the_run_before_the_job(
    empty_dsn: str, dataset: Any, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([f"--input={dataset.events}", f"--postgres_dsn={empty_dsn}", "--no_model"])
    assert stopped.value.code == (
        "pipelines.fraud: --postgres_dsn: the warehouse has no migrations, this release needs "
        f"V{_newest_migration():03d}: run python -m pipelines.warehouse migrate"
    )


def test_building_an_executable_jar_leaves_the_warehouse_to_the_running_job(
    empty_dsn: str, dataset: Any, tmp_path: Path
) -> None:
    """The image build (k8s/images/build_pipeline_jar.py) reaches no warehouse: the launcher
    checks it only for a job it runs itself."""
    from pipelines.fraud import pipeline_options
    from pipelines.launcher import prepare_run
    from pipelines.options import FraudOptions

    argv = [f"--input={dataset.events}", f"--postgres_dsn={empty_dsn}", "--no_model"]
    argv += [f"--output_dir={tmp_path / 'out'}"]
    building = [*argv, f"--output_executable_path={tmp_path / 'job.jar'}"]
    prepare_run(pipeline_options(building).view_as(FraudOptions))
    with pytest.raises(LaunchError, match="no migrations"):
        prepare_run(pipeline_options(argv).view_as(FraudOptions))


def _newest_migration() -> int:
    return max(migration.version for migration in discover())


def test_a_warehouse_missing_this_releases_last_migration_stops_the_run(
    empty_dsn: str, dataset: Any, tmp_path: Path
) -> None:
    # V007 lets bronze.dlq_events hold SINK_REJECTED rows: without it, refused rows are lost.
    older = tmp_path / "migrations"
    older.mkdir()
    newest = _newest_migration()
    for migration in sql_folder("migrations").glob("V*.sql"):
        if not migration.name.startswith(f"V{newest:03d}__"):
            shutil.copy(migration, older)
    migrate(empty_dsn, older)
    with pytest.raises(SystemExit) as stopped:
        main([f"--input={dataset.events}", f"--postgres_dsn={empty_dsn}", "--no_model"])
    assert f"the warehouse is at V{newest - 1:03d}, this release needs V{newest:03d}" in str(
        stopped.value.code
    )
