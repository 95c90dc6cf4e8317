"""WriteToPostgres: batched, idempotent writes into the warehouse; refused rows dead-lettered.

Each batch is one transaction: the daily partitions it needs, a ``COPY`` into a temporary
staging table, and one set-based statement (``transforms.postgres_tables``), a few round
trips for the whole batch instead of one statement per row. A transient error (connection
lost, serialisation failure, deadlock) retries the *whole* batch with backoff on a new
connection, so a batch is never half written. A batch the table refuses is written again
row by row in savepoints: a refused row costs only itself, and goes to ``bronze.dlq_events``
as ``SINK_REJECTED`` with the error and the record, once however often it is replayed. Only
if that write fails too is the row lost: counted and logged with its record.

Every record a batch brings is counted once, per table: ``postgres_written_<table>`` (a row
inserted, or a silver row changed), ``postgres_skipped_<table>`` (already there: a replay, an
unchanged resend, or a record another of the same key in its batch superseded) or
``postgres_rejected_<table>``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.counters import NAMESPACE
from transforms.domain.dlq import build_dlq_record
from transforms.domain.json_fields import ErrorType
from transforms.postgres_tables import (
    CLEAN_TRANSACTIONS,
    DLQ_EVENTS,
    FRAUD_ALERTS,
    RAW_TRANSACTIONS,
    STORE_MINUTES,
    TableWrite,
    jsonb_safe,
)
from transforms.version import PIPELINE_VERSION

__all__ = [
    "CLEAN_TRANSACTIONS",
    "DLQ_EVENTS",
    "FRAUD_ALERTS",
    "MAX_BATCH",
    "RAW_TRANSACTIONS",
    "STORE_MINUTES",
    "TableWrite",
    "WriteToPostgres",
    "jsonb_safe",
    "rejected_record",
]

_LOG = logging.getLogger(__name__)
# Rows per batch at most. Measured (benchmarks/postgres_sink.py): 500 already writes about
# 25k rows/s, 2,000 about 32k; kept at 500 because a refused row sends its whole batch through
# the row-by-row path, and a batch holds its key registry locks until it commits.
MAX_BATCH = 500
RETRIES = 5
STAGE = "postgres_sink"
# Stamped with the wall clock each time a record is produced, so not part of its identity.
_VOLATILE_FIELDS = frozenset({"detected_at", "received_at"})


def _is_transient(error: Exception) -> bool:
    """Connection trouble, serialisation failure, deadlock, server shutdown: worth a retry.
    Authentication, missing objects or bad data are not: retrying would only loop."""
    state = getattr(error, "sqlstate", None)
    return state is None or state[:2] in {"08", "40"} or state in {"57P01", "57P02", "57P03"}


def rejected_record(
    table: TableWrite, record: dict[str, Any], error: Exception, received_at: str
) -> dict[str, Any]:
    """The DLQ record of a row ``table`` refused: the error, and the record as JSON."""
    key = f"{table.name}:{record.get(table.key)}"
    diag = getattr(error, "diag", None)
    message = getattr(diag, "message_primary", None) or str(error)
    state = getattr(error, "sqlstate", None)
    version = record.get("schema_version")
    dead = build_dlq_record(
        error_type=ErrorType.SINK_REJECTED,
        error_message=f"{table.name} refused the row ({state}): {message}",
        stage=STAGE,
        source=key,
        raw_payload=json.dumps(record, sort_keys=True, ensure_ascii=False, default=str).encode(
            "utf-8", "backslashreplace"
        ),
        received_at=received_at,
        pipeline_version=PIPELINE_VERSION,
        schema_version=version if isinstance(version, int) else None,
    )
    # One id per refused version of a record: a replay finds its DLQ row already there (a
    # replayed alert differs only in detected_at, so that stamp is left out), while a corrected
    # resend that is refused again gets a row of its own.
    stable = {name: value for name, value in record.items() if name not in _VOLATILE_FIELDS}
    identity = key + "\n" + json.dumps(stable, sort_keys=True, ensure_ascii=False, default=str)
    dead["dlq_id"] = hashlib.sha256(identity.encode("utf-8", "backslashreplace")).hexdigest()[:32]
    return dead


class _WriteBatchFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self, dsn: str, table: TableWrite) -> None:
        self._dsn = dsn
        self._table = table
        self._written = Metrics.counter(NAMESPACE, f"postgres_written_{table.name}")
        self._skipped = Metrics.counter(NAMESPACE, f"postgres_skipped_{table.name}")
        self._retries = Metrics.counter(NAMESPACE, "postgres_retries")
        self._rejected = Metrics.counter(NAMESPACE, f"postgres_rejected_{table.name}")
        # not dlq_*: those count input lines, and the conservation law read = scored + dlq
        self._dead_lettered = Metrics.counter(NAMESPACE, f"postgres_dead_lettered_{table.name}")
        self._lost = Metrics.counter(NAMESPACE, f"postgres_lost_{table.name}")

    def setup(self) -> None:
        self._connection: Any = None

    def process(self, batch: Sequence[dict[str, Any]]) -> Iterator[int]:
        """Writes the batch; yields the number of rows it wrote."""
        import psycopg  # the postgres extra: only workers that write to PostgreSQL need it

        # One order for every writer: concurrent batches claim shared ids without deadlocks.
        records = sorted(batch, key=lambda record: str(record[self._table.key]))
        for attempt in range(RETRIES + 1):
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = self._connect()
                written, rejected = self._write(records)
                break
            except psycopg.OperationalError as error:
                self._close()
                if attempt == RETRIES or not _is_transient(error):
                    raise
                self._retries.inc()
                _LOG.warning("retrying a %s batch after: %s", self._table.name, error)
                time.sleep(min(10.0, 0.2 * 2**attempt))
        self._written.inc(written)
        self._skipped.inc(len(records) - written - rejected)
        yield written

    def _connect(self) -> Any:
        import psycopg

        connection = psycopg.connect(self._dsn)
        # Staging tables live as long as the session: created once, emptied at every commit.
        with connection.transaction():
            for table in (self._table, DLQ_EVENTS):
                connection.execute(table.create_staging())
        return connection

    def _write(self, records: Sequence[dict[str, Any]]) -> tuple[int, int]:
        """Rows written and rows rejected; the rest of ``records`` were skipped."""
        import psycopg

        try:
            with self._connection.transaction(), self._connection.cursor() as cursor:
                _ensure_partitions(cursor, self._table, records)
                return _write_staged(cursor, self._table, records), 0
        except (psycopg.DataError, psycopg.IntegrityError) as error:
            # One row the table refuses must not cost the others: row by row, in savepoints.
            _LOG.warning("%s batch refused (%s): writing row by row", self._table.name, error)
        written = rejected = 0
        with self._connection.transaction(), self._connection.cursor() as cursor:
            _ensure_partitions(cursor, self._table, records)
            for record in records:
                try:
                    with self._connection.transaction():
                        written += _write_staged(cursor, self._table, [record])
                        cursor.execute(f"DELETE FROM {self._table.staging}")
                except (psycopg.DataError, psycopg.IntegrityError) as error:
                    rejected += 1
                    self._rejected.inc()
                    self._dead_letter(cursor, record, error)
        return written, rejected

    def _dead_letter(self, cursor: Any, record: dict[str, Any], error: Exception) -> None:
        import psycopg

        name, key = self._table.name, record.get(self._table.key)
        dead = rejected_record(self._table, record, error, datetime.now(UTC).isoformat())
        _LOG.error("%s refused %s=%s: %s", name, self._table.key, key, error)
        try:
            with self._connection.transaction():
                _ensure_partitions(cursor, DLQ_EVENTS, [dead])
                _write_staged(cursor, DLQ_EVENTS, [dead])
                cursor.execute(f"DELETE FROM {DLQ_EVENTS.staging}")
            self._dead_lettered.inc()
        except (psycopg.DataError, psycopg.IntegrityError) as failure:
            # The last resort: the record is in the log, or nowhere.
            self._lost.inc()
            _LOG.error("%s row %s lost, the DLQ refused it too (%s): %s", name, key, failure, dead)

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def teardown(self) -> None:
        self._close()


def _ensure_partitions(cursor: Any, table: TableWrite, records: Sequence[dict[str, Any]]) -> None:
    if table.partitioned_by:
        parent, field = table.partitioned_by
        days = sorted({record[field][:10] for record in records})
        cursor.execute(  # every day of the batch in one round trip
            "SELECT bronze.ensure_daily_partitions(%s::regclass, day, day) "
            "FROM unnest(%s::date[]) AS day",
            (parent, days),
        )


def _write_staged(cursor: Any, table: TableWrite, records: Sequence[dict[str, Any]]) -> int:
    """Rows the set-based statement wrote; conflicts it skipped are not among them."""
    with cursor.copy(table.copy()) as copy:
        for seq, record in enumerate(records):
            copy.write_row((seq, *table.row(record)))
    cursor.execute(table.write())
    return int(cursor.rowcount)


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
