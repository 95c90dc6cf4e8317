"""WriteToPostgres: batched, parameterised, idempotent writes into the warehouse.

Each table has one statement with ``ON CONFLICT`` on its business key, so a replayed input
writes no duplicate row (bronze: ``DO NOTHING``; silver: ``DO UPDATE`` when the scores
changed). Rows are written in batches, each batch in one transaction together with the daily
partitions it needs; a transient error (connection lost, serialisation failure, deadlock)
retries the *whole* batch with backoff on a new connection, so a batch is never half written.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.counters import NAMESPACE

_LOG = logging.getLogger(__name__)
MAX_BATCH = 500
RETRIES = 5


@dataclass(frozen=True, slots=True)
class TableWrite:
    """How one kind of record lands in one table."""

    name: str
    statement: str
    row: Callable[[dict[str, Any]], tuple[Any, ...]]
    # the business key: rows are written in its order, so concurrent batches lock alike
    key: str
    # (partitioned table, record field holding the partition key's UTC ISO time), if any
    partitioned_by: tuple[str, str] | None = None


def _claimed(registry: str, key: str, time_column: str, cast: str = "") -> str:
    """The head of an ``INSERT ... SELECT`` that writes a row only if its id is new.

    Bronze tables are partitioned by a time, and PostgreSQL puts the partition key in every
    unique index, so the business id alone cannot be unique there: a replay at another time
    (DLQ receive time) or a resend with another event time would pass ``ON CONFLICT``. The id
    is claimed in an unpartitioned registry first (V002); the row follows only if the claim
    succeeded. Parameters: the id and its time, then the row.
    """
    return (
        f"WITH claimed AS (INSERT INTO {registry} ({key}, {time_column}) "
        f"VALUES (%s{cast}, %s::timestamptz) ON CONFLICT DO NOTHING RETURNING 1) "
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# PostgreSQL numeric: at most 131072 digits before the point and 16383 after it.
_MAX_NUMERIC_EXPONENT = 131_071
_MIN_NUMERIC_EXPONENT = -16_383


def _storable_number(text: str) -> Decimal:
    number = Decimal(text)
    if number and not _MIN_NUMERIC_EXPONENT <= number.adjusted() <= _MAX_NUMERIC_EXPONENT:
        raise ValueError(f"number out of PostgreSQL's range: {text[:20]}")
    return number


def _check_strings(value: Any) -> None:
    if isinstance(value, str):
        value.encode("utf-8")  # a lone surrogate raises; a NUL is caught below
        if "\x00" in value:
            raise ValueError("NUL character")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key)
            _check_strings(item)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item)


def jsonb_safe(payload: str) -> str:
    """The payload as JSON PostgreSQL's ``jsonb`` accepts.

    ``jsonb`` rejects some JSON that the event parser accepts in fields it ignores: the
    ``\\u0000`` escape, lone surrogates and numbers beyond PostgreSQL's numeric range. Such a
    payload is kept verbatim as a string, ``{"raw_text": ...}``, instead of failing a batch.
    """
    try:
        document = json.loads(payload, parse_float=_storable_number, parse_int=_storable_number)
        _check_strings(document)
    except (ValueError, UnicodeEncodeError, RecursionError):
        return _json({"raw_text": payload})
    return payload


RAW_TRANSACTIONS = TableWrite(
    name="bronze.raw_transactions",
    statement=(
        _claimed("bronze.raw_transaction_keys", "transaction_id", "event_time")
        + "INSERT INTO bronze.raw_transactions (transaction_id, customer_id, event_time, "
        "schema_version, source, raw_payload) "
        "SELECT %s, %s, %s::timestamptz, %s::integer, %s, %s::jsonb FROM claimed "
        "ON CONFLICT DO NOTHING"
    ),
    key="transaction_id",
    row=lambda r: (
        r["transaction_id"],
        r["event_time"],
        r["transaction_id"],
        r["customer_id"],
        r["event_time"],
        r["schema_version"],
        r["source"],
        jsonb_safe(r["raw_payload"]),
    ),
    partitioned_by=("bronze.raw_transactions", "event_time"),
)

_SILVER_COLUMNS = (
    "customer_id, store_id, product_id, amount, currency, payment_method, latitude, "
    "longitude, event_time, schema_version, fraud_score, rule_score, ml_score, "
    "rules_triggered, rule_details, is_alert, model_version, rules_version"
)

CLEAN_TRANSACTIONS = TableWrite(
    name="silver.clean_transactions",
    key="transaction_id",
    statement=(
        "INSERT INTO silver.clean_transactions AS t (transaction_id, customer_id, store_id, "
        "product_id, amount, currency, payment_method, latitude, longitude, event_time, "
        "schema_version, fraud_score, rule_score, ml_score, rules_triggered, rule_details, "
        "is_alert, model_version, rules_version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        # The latest write wins, event fields included (a corrected resend of the id)...
        f"ON CONFLICT (transaction_id) DO UPDATE SET ({_SILVER_COLUMNS}) = "
        f"ROW({', '.join('EXCLUDED.' + c for c in _SILVER_COLUMNS.split(', '))}), "
        "updated_at = now() "
        # ...but a replay that changes nothing leaves the row, and its updated_at, untouched.
        f"WHERE ({', '.join('t.' + c for c in _SILVER_COLUMNS.split(', '))}) IS DISTINCT FROM "
        f"({', '.join('EXCLUDED.' + c for c in _SILVER_COLUMNS.split(', '))})"
    ),
    row=lambda r: (
        r["transaction_id"],
        r["customer_id"],
        r["store_id"],
        r["product_id"],
        r["amount"],
        r["currency"],
        r["payment_method"],
        r["latitude"],
        r["longitude"],
        r["event_time"],
        r["schema_version"],
        r["fraud_score"],
        r["rule_score"],
        r["ml_score"],
        r["rules_triggered"],
        _json(r["rule_details"]),
        r["is_alert"],
        r["model_version"],
        r["rules_version"],
    ),
)

FRAUD_ALERTS = TableWrite(
    name="bronze.fraud_alerts",
    statement=(
        _claimed("bronze.fraud_alert_keys", "alert_id", "event_time", "::uuid")
        + "INSERT INTO bronze.fraud_alerts (alert_id, transaction_id, customer_id, store_id, "
        "amount, currency, event_time, fraud_score, rule_score, ml_score, rules_triggered, "
        "rule_details, explanation, model_version, rules_version, detected_at) "
        "SELECT %s::uuid, %s, %s, %s, %s::numeric, %s, %s::timestamptz, %s::float8, "
        "%s::float8, %s::float8, %s::text[], %s::jsonb, %s, %s, %s, %s::timestamptz "
        "FROM claimed ON CONFLICT DO NOTHING"
    ),
    key="alert_id",
    row=lambda r: (
        r["alert_id"],
        r["event_time"],
        r["alert_id"],
        r["transaction_id"],
        r["customer_id"],
        r["store_id"],
        r["amount"],
        r["currency"],
        r["event_time"],
        r["fraud_score"],
        r["rule_score"],
        r["ml_score"],
        r["rules_triggered"],
        _json(r["rule_details"]),
        r["explanation"],
        r["model_version"],
        r["rules_version"],
        r["detected_at"],
    ),
    partitioned_by=("bronze.fraud_alerts", "event_time"),
)

DLQ_EVENTS = TableWrite(
    name="bronze.dlq_events",
    statement=(
        _claimed("bronze.dlq_event_keys", "dlq_id", "received_at")
        + "INSERT INTO bronze.dlq_events (dlq_id, error_type, error_message, stage, source, "
        "raw_payload, truncated, raw_size_bytes, schema_version, pipeline_version, "
        "received_at) SELECT %s, %s, %s, %s, %s, %s, %s::boolean, %s::integer, %s::integer, "
        "%s, %s::timestamptz FROM claimed ON CONFLICT DO NOTHING"
    ),
    key="dlq_id",
    row=lambda r: (
        r["dlq_id"],
        r["received_at"],
        r["dlq_id"],
        r["error_type"],
        r["error_message"].replace("\x00", "\\x00"),
        r["stage"],
        r["source"].replace("\x00", "\\x00"),
        # A text column cannot hold NUL; the escaped form keeps the byte visible.
        r["raw_payload"].replace("\x00", "\\x00"),
        r["truncated"],
        r["raw_size_bytes"],
        r["schema_version"],
        r["pipeline_version"],
        r["received_at"],
    ),
    partitioned_by=("bronze.dlq_events", "received_at"),
)


def _is_transient(error: Exception) -> bool:
    """Connection trouble, serialisation failure, deadlock, server shutdown: worth a retry.
    Authentication, missing objects or bad data are not: retrying would only loop."""
    state = getattr(error, "sqlstate", None)
    return state is None or state[:2] in {"08", "40"} or state in {"57P01", "57P02", "57P03"}


class _WriteBatchFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self, dsn: str, table: TableWrite) -> None:
        self._dsn = dsn
        self._table = table
        self._rows = Metrics.counter(NAMESPACE, f"postgres_rows_{table.name}")
        self._retries = Metrics.counter(NAMESPACE, "postgres_retries")
        self._rejected = Metrics.counter(NAMESPACE, f"postgres_rejected_{table.name}")

    def setup(self) -> None:
        self._connection: Any = None

    def process(self, batch: Sequence[dict[str, Any]]) -> Iterator[int]:
        import psycopg  # the postgres extra: only workers that write to PostgreSQL need it

        # One order for every writer: concurrent batches claim shared ids without deadlocks.
        records = sorted(batch, key=lambda record: str(record[self._table.key]))
        for attempt in range(RETRIES + 1):
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = psycopg.connect(self._dsn)
                written = self._write(records)
                break
            except psycopg.OperationalError as error:
                self._close()
                if attempt == RETRIES or not _is_transient(error):
                    raise
                self._retries.inc()
                _LOG.warning("retrying a %s batch after: %s", self._table.name, error)
                time.sleep(min(10.0, 0.2 * 2**attempt))
        self._rows.inc(written)
        yield written

    def _write(self, records: Sequence[dict[str, Any]]) -> int:
        import psycopg

        try:
            with self._connection.transaction(), self._connection.cursor() as cursor:
                self._ensure_partitions(cursor, records)
                cursor.executemany(self._table.statement, [self._table.row(r) for r in records])
            return len(records)
        except (psycopg.DataError, psycopg.IntegrityError) as error:
            # One row the table refuses must not cost the others: row by row, in savepoints.
            _LOG.warning("%s batch refused (%s): writing row by row", self._table.name, error)
        written = 0
        with self._connection.transaction(), self._connection.cursor() as cursor:
            self._ensure_partitions(cursor, records)
            for record in records:
                try:
                    with self._connection.transaction():
                        cursor.execute(self._table.statement, self._table.row(record))
                    written += 1
                except (psycopg.DataError, psycopg.IntegrityError) as error:
                    self._rejected.inc()
                    _LOG.error(
                        "%s refused %s=%s: %s",
                        self._table.name,
                        self._table.key,
                        record[self._table.key],
                        error,
                    )
        return written

    def _ensure_partitions(self, cursor: Any, records: Sequence[dict[str, Any]]) -> None:
        if self._table.partitioned_by:
            parent, field = self._table.partitioned_by
            for day in sorted({record[field][:10] for record in records}):
                cursor.execute(
                    "SELECT bronze.ensure_daily_partitions(%s::regclass, %s, %s)",
                    (parent, day, day),
                )

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def teardown(self) -> None:
        self._close()


class WriteToPostgres(beam.PTransform):  # type: ignore[misc]
    """Dict records in; the number of rows written per batch out."""

    def __init__(self, dsn: str, table: TableWrite, max_batch_size: int = MAX_BATCH) -> None:
        super().__init__()
        self._fn = _WriteBatchFn(dsn, table)
        self._max_batch_size = max_batch_size

    def expand(self, records: Any) -> Any:
        return (
            records
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._max_batch_size)
            | "Write" >> beam.ParDo(self._fn)
        )
