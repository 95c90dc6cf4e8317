"""JSON records field by field: the shared vocabulary of the input parsers.

Events (:mod:`transforms.domain.events`) and feedback (:mod:`transforms.domain.feedback`) are
JSON objects read by the same rules: UTF-8, a size limit, exact decimals, text fields that every
sink can store. A failed check raises :class:`InvalidRecordError` with a stable
:class:`ErrorType`, which the parsers turn into a dead-letter record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import tzinfo
from decimal import Decimal
from enum import StrEnum
from typing import Any

from transforms.domain.event_time import EARLIEST_EVENT_MS, LATEST_EVENT_MS, parse_timestamp


class ErrorType(StrEnum):
    """Why a record went to the dead-letter queue. A stable contract: only ever add."""

    INVALID_JSON = "INVALID_JSON"
    NOT_AN_OBJECT = "NOT_AN_OBJECT"
    MISSING_FIELD = "MISSING_FIELD"
    INVALID_FIELD = "INVALID_FIELD"
    UNSUPPORTED_SCHEMA = "UNSUPPORTED_SCHEMA"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    PROCESSING_ERROR = "PROCESSING_ERROR"
    # a scored record, alert or raw row the warehouse refused (transforms/postgres_sink.py)
    SINK_REJECTED = "SINK_REJECTED"


@dataclass(frozen=True, slots=True)
class InvalidRecord:
    """A payload that is not a valid record of its contract, and why: what a parser returns
    instead of raising, for the caller to dead-letter."""

    error_type: ErrorType
    message: str


class InvalidRecordError(Exception):
    def __init__(self, error_type: ErrorType, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def decode_object(payload: bytes | str, max_payload_bytes: int) -> dict[str, Any]:
    """The JSON object a payload holds; :class:`InvalidRecordError` if it holds none."""
    try:
        raw = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else payload
    except UnicodeEncodeError as error:  # a lone surrogate that no byte sequence decodes to
        raise InvalidRecordError(
            ErrorType.INVALID_JSON, f"payload is not UTF-8: {error.reason}"
        ) from None
    if len(raw) > max_payload_bytes:
        raise InvalidRecordError(
            ErrorType.PAYLOAD_TOO_LARGE, f"payload is {len(raw)} bytes, limit {max_payload_bytes}"
        )
    document = decode_json(raw)
    if not isinstance(document, dict):
        raise InvalidRecordError(
            ErrorType.NOT_AN_OBJECT, f"expected a JSON object, got {type(document).__name__}"
        )
    return document


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# One decoder for every record: json.loads with options builds a new decoder per call.
_JSON = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)


def decode_json(raw: bytes) -> Any:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidRecordError(
            ErrorType.INVALID_JSON, f"payload is not UTF-8: {error.reason}"
        ) from None
    try:
        return _JSON.decode(decoded)
    except (ValueError, RecursionError) as error:
        raise InvalidRecordError(ErrorType.INVALID_JSON, f"not JSON: {error}") from None


def required(document: dict[str, Any], field: str) -> Any:
    value = document.get(field)
    if value is None:
        raise InvalidRecordError(ErrorType.MISSING_FIELD, f"{field}: required")
    return value


def text(document: dict[str, Any], field: str, max_length: int) -> str:
    value = required(document, field)
    return checked_text(field, value, max_length)


def optional_text(document: dict[str, Any], field: str, max_length: int) -> str | None:
    value = document.get(field)
    return None if value is None else checked_text(field, value, max_length)


def plain_text(document: dict[str, Any], field: str, max_length: int) -> str:
    """A text field that may be empty or absent (a note, an empty rules file): "" then."""
    value = document.get(field)
    if value is None or value == "":
        return ""
    return checked_text(field, value, max_length)


def checked_text(field: str, value: Any, max_length: int) -> str:
    if not isinstance(value, str):
        raise InvalidRecordError(ErrorType.INVALID_FIELD, f"{field}: expected a string")
    if not value.strip() or len(value) > max_length:
        raise InvalidRecordError(
            ErrorType.INVALID_FIELD, f"{field}: must have 1..{max_length} characters"
        )
    try:
        # a JSON escape like "\\ud800" decodes to a lone surrogate, which no UTF-8 sink can write
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRecordError(ErrorType.INVALID_FIELD, f"{field}: not valid Unicode") from None
    if "\x00" in value:
        # a NUL ("\u0000") is valid JSON but no text column (PostgreSQL, Kafka keys) takes it
        raise InvalidRecordError(ErrorType.INVALID_FIELD, f"{field}: contains a NUL character")
    return value


def one_of(document: dict[str, Any], field: str, allowed: tuple[str, ...]) -> str:
    """A required field whose value must be one of ``allowed``."""
    value = required(document, field)
    if isinstance(value, str) and value in allowed:
        return value
    raise InvalidRecordError(
        ErrorType.INVALID_FIELD, f"{field}: expected one of {', '.join(allowed)}: {value!r}"
    )


def timestamp(document: dict[str, Any], field: str, naive_zone: tzinfo | None) -> int:
    """Epoch millis of an ISO-8601 field; a naive time is read in ``naive_zone``, and without
    one an offset is required."""
    value = required(document, field)
    if not isinstance(value, str):
        raise InvalidRecordError(ErrorType.INVALID_FIELD, f"{field}: expected an ISO-8601 string")
    try:
        millis = parse_timestamp(value, naive_zone)
    except (ValueError, OverflowError) as error:
        raise InvalidRecordError(ErrorType.INVALID_FIELD, f"{field}: {error}: {value!r}") from None
    # Outputs print the UTC time and FR-004 reads the local hour: a time near year 1 or 9999
    # can fall off the calendar once moved to UTC or the zone, so keep to a sane business range.
    if not EARLIEST_EVENT_MS <= millis <= LATEST_EVENT_MS:
        raise InvalidRecordError(ErrorType.INVALID_FIELD, f"{field}: outside 1900..2199: {value!r}")
    return millis
