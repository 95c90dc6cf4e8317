"""How each kind of record lands in its warehouse table (used by ``transforms.postgres_sink``).

A batch is copied into a temporary staging table shaped like its target, then written by one
set-based statement with ``ON CONFLICT`` on the business key, so a replayed input writes no
duplicate row (bronze: ``DO NOTHING``; silver: ``DO UPDATE`` when something changed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from transforms.domain.outputs import ALERT_FIELDS, MODEL_EXPLANATION_FIELDS
from transforms.domain.store_minutes import VALUE_FIELDS


@dataclass(frozen=True, slots=True)
class TableWrite:
    """How one kind of record lands in one table."""

    name: str
    # the business key: rows are written in its order, so concurrent batches lock alike
    key: str
    # the staged columns, in the order of ``row``'s values
    columns: tuple[str, ...]
    row: Callable[[dict[str, Any]], tuple[Any, ...]]
    # the set-based write; reads ``batch``: the staged rows, one per key
    statement: str
    # which of two records of one key in one batch is written: the first claims a bronze id,
    # the last wins in silver (as if the batch had been written row by row)
    last_wins: bool = False
    # or: which one is written, by a column of the staged rows (e.g. "pane_index DESC")
    wins_by: str | None = None
    # (partitioned table, record field holding the partition key's UTC ISO time), if any
    partitioned_by: tuple[str, str] | None = None

    @property
    def staging(self) -> str:
        """The session's temporary table for this table's batches."""
        return "sink_" + self.name.replace(".", "_")

    def create_staging(self) -> str:
        # seq: the record's place in the batch. ON COMMIT DELETE ROWS: empty for every batch.
        return (
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.staging} "
            f"(seq integer NOT NULL, LIKE {self.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )

    def copy(self) -> str:
        return f"COPY {self.staging} (seq, {', '.join(self.columns)}) FROM STDIN"

    def write(self) -> str:
        order = self.wins_by or ("seq DESC" if self.last_wins else "seq")
        batch = (
            f"SELECT DISTINCT ON ({self.key}) * FROM {self.staging} ORDER BY {self.key}, {order}"
        )
        return f"WITH batch AS ({batch}) " + self.statement


def _claim(registry: str, key: str, time_column: str, table: str, columns: tuple[str, ...]) -> str:
    """Claim each id in its unpartitioned registry; write the rows whose claim succeeded.

    Bronze tables are partitioned by a time, and PostgreSQL puts the partition key in every
    unique index, so the business id alone cannot be unique there: a replay at another time
    (DLQ receive time) or a resend with another event time would pass ``ON CONFLICT``. The id
    is claimed in an unpartitioned registry first (V002), in the same statement: race-free
    across concurrent writers.
    """
    names = ", ".join(columns)
    return (
        f", claimed AS (INSERT INTO {registry} ({key}, {time_column}) "
        f"SELECT {key}, {time_column} FROM batch ORDER BY {key} "
        f"ON CONFLICT DO NOTHING RETURNING {key}) "
        f"INSERT INTO {table} ({names}) SELECT {names} FROM batch "
        f"WHERE {key} IN (SELECT {key} FROM claimed) ORDER BY {key} ON CONFLICT DO NOTHING"
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


# One decoder: json.loads with options builds a new one per call.
_DECODER = json.JSONDecoder(parse_float=_storable_number, parse_int=_storable_number)


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
        document = _DECODER.decode(payload)
        # Only a \u escape or a non-ASCII character can put a NUL or a lone surrogate into a
        # decoded string: an ASCII payload without one needs no walk (half of the cost).
        if "\\u" in payload or not payload.isascii():
            _check_strings(document)
    except (ValueError, UnicodeEncodeError, RecursionError):
        return _json({"raw_text": payload})
    return payload


def _no_nul(text: str) -> str:
    # A text column cannot hold NUL; the escaped form keeps the byte visible.
    return text.replace("\x00", "\\x00")


_RAW_COLUMNS = (
    "transaction_id",
    "customer_id",
    "event_time",
    "schema_version",
    "source",
    "raw_payload",
)

RAW_TRANSACTIONS = TableWrite(
    name="bronze.raw_transactions",
    key="transaction_id",
    columns=_RAW_COLUMNS,
    row=lambda r: (
        r["transaction_id"],
        r["customer_id"],
        r["event_time"],
        r["schema_version"],
        r["source"],
        jsonb_safe(r["raw_payload"]),
    ),
    statement=_claim(
        "bronze.raw_transaction_keys",
        "transaction_id",
        "event_time",
        "bronze.raw_transactions",
        _RAW_COLUMNS,
    ),
    partitioned_by=("bronze.raw_transactions", "event_time"),
)

_SILVER_COLUMNS = (
    "transaction_id",
    "customer_id",
    "store_id",
    "product_id",
    "amount",
    "currency",
    "payment_method",
    "latitude",
    "longitude",
    "event_time",
    "schema_version",
    "fraud_score",
    "rule_score",
    "ml_score",
    "rules_triggered",
    "rule_details",
    "is_alert",
    "model_version",
    "rules_version",
    "challenger",
)
_SILVER_UPDATED = _SILVER_COLUMNS[1:]

CLEAN_TRANSACTIONS = TableWrite(
    name="silver.clean_transactions",
    key="transaction_id",
    columns=_SILVER_COLUMNS,
    row=lambda r: (
        *(r[c] for c in _SILVER_COLUMNS[:15]),
        _json(r["rule_details"]),
        r["is_alert"],
        r["model_version"],
        r["rules_version"],
        # The challenger's verdict in shadow, on the records a challenger was in effect for.
        None if r.get("challenger") is None else _json(r["challenger"]),
    ),
    statement=(
        f"INSERT INTO silver.clean_transactions AS t ({', '.join(_SILVER_COLUMNS)}) "
        f"SELECT {', '.join(_SILVER_COLUMNS)} FROM batch ORDER BY transaction_id "
        # The latest write wins, event fields included (a corrected resend of the id)...
        f"ON CONFLICT (transaction_id) DO UPDATE SET ({', '.join(_SILVER_UPDATED)}) = "
        f"ROW({', '.join('EXCLUDED.' + c for c in _SILVER_UPDATED)}), updated_at = now() "
        # ...but a replay that changes nothing leaves the row, and its updated_at, untouched.
        f"WHERE ({', '.join('t.' + c for c in _SILVER_UPDATED)}) IS DISTINCT FROM "
        f"({', '.join('EXCLUDED.' + c for c in _SILVER_UPDATED)})"
    ),
    last_wins=True,
)

# The alert as transforms.domain.outputs builds it, with its id and detection time.
_ALERT_COLUMNS = ("alert_id", *ALERT_FIELDS, *MODEL_EXPLANATION_FIELDS, "detected_at")
_ALERT_JSON = {"rule_details", *MODEL_EXPLANATION_FIELDS}


def _alert_value(alert: dict[str, Any], column: str) -> Any:
    if column not in _ALERT_JSON:
        return alert[column]
    value = alert.get(column)  # an alert scored without a model has no explanation
    return None if value is None else _json(value)


FRAUD_ALERTS = TableWrite(
    name="bronze.fraud_alerts",
    key="alert_id",
    columns=_ALERT_COLUMNS,
    row=lambda r: tuple(_alert_value(r, c) for c in _ALERT_COLUMNS),
    statement=_claim(
        "bronze.fraud_alert_keys", "alert_id", "event_time", "bronze.fraud_alerts", _ALERT_COLUMNS
    ),
    partitioned_by=("bronze.fraud_alerts", "event_time"),
)

_DLQ_COLUMNS = (
    "dlq_id",
    "error_type",
    "error_message",
    "stage",
    "source",
    "raw_payload",
    "truncated",
    "raw_size_bytes",
    "schema_version",
    "pipeline_version",
    "received_at",
)
_DLQ_TEXT = {"error_message", "source", "raw_payload"}

DLQ_EVENTS = TableWrite(
    name="bronze.dlq_events",
    key="dlq_id",
    columns=_DLQ_COLUMNS,
    row=lambda r: tuple(_no_nul(r[c]) if c in _DLQ_TEXT else r[c] for c in _DLQ_COLUMNS),
    statement=_claim(
        "bronze.dlq_event_keys", "dlq_id", "received_at", "bronze.dlq_events", _DLQ_COLUMNS
    ),
    partitioned_by=("bronze.dlq_events", "received_at"),
)

_STORE_MINUTE_COLUMNS = (*VALUE_FIELDS, "pane_index", "pane_timing")
_STORE_MINUTE_UPDATED = _STORE_MINUTE_COLUMNS[4:]

# A pane carries its minute's whole value so far (transforms.realtime_metrics), so the row
# keeps the pane that holds the most contributions: a replayed older pane changes nothing.
# Not the pane index alone: early panes fire on processing time, so after a restore from a
# checkpoint the minute's last pane may carry a lower index than one written before the failure.
STORE_MINUTES = TableWrite(
    name="silver.store_minute_metrics",
    key="window_key",
    columns=_STORE_MINUTE_COLUMNS,
    row=lambda r: tuple(
        _json(r[c]) if c == "amount_by_payment_method" else r[c] for c in _STORE_MINUTE_COLUMNS
    ),
    statement=(
        f"INSERT INTO silver.store_minute_metrics AS t ({', '.join(_STORE_MINUTE_COLUMNS)}) "
        f"SELECT {', '.join(_STORE_MINUTE_COLUMNS)} FROM batch ORDER BY window_key "
        f"ON CONFLICT (window_key) DO UPDATE SET ({', '.join(_STORE_MINUTE_UPDATED)}) = "
        f"ROW({', '.join('EXCLUDED.' + c for c in _STORE_MINUTE_UPDATED)}), updated_at = now() "
        "WHERE (EXCLUDED.transactions + EXCLUDED.dead_letters, EXCLUDED.pane_index) > "
        "(t.transactions + t.dead_letters, t.pane_index)"
    ),
    wins_by="transactions + dead_letters DESC, pane_index DESC",
)
