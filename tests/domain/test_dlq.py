"""The dead-letter record: replayable, idempotent, and bounded in size.

Contract: docs/architecture.md, "Outputs".
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from transforms.domain.dlq import MAX_RAW_PAYLOAD_BYTES, build_dlq_record
from transforms.domain.event_time import business_timezone
from transforms.domain.events import InvalidEvent, parse_event
from transforms.domain.json_fields import ErrorType

SOURCE = "kafka:transactions.raw/2/1042"


def record(raw_payload: bytes, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "error_type": ErrorType.INVALID_JSON,
        "error_message": "not JSON: Expecting value",
        "stage": "parse",
        "source": SOURCE,
        "raw_payload": raw_payload,
        "received_at": "2026-10-01T13:00:00+00:00",
        "pipeline_version": "1.4.0",
    }
    arguments.update(overrides)
    return build_dlq_record(**arguments)


def test_dlq_record_has_the_contract_fields() -> None:
    dead = record(b"{oops", schema_version=2)

    assert dead == {
        "dlq_id": dead["dlq_id"],
        "error_type": "INVALID_JSON",
        "error_message": "not JSON: Expecting value",
        "stage": "parse",
        "source": SOURCE,
        "raw_payload": "{oops",
        "truncated": False,
        "raw_size_bytes": 5,
        "schema_version": 2,
        "received_at": "2026-10-01T13:00:00+00:00",
        "pipeline_version": "1.4.0",
    }
    assert re.fullmatch(r"[0-9a-f]{32}", dead["dlq_id"])


def test_schema_version_defaults_to_unknown() -> None:
    assert record(b"x")["schema_version"] is None


def test_payload_of_exactly_64_kib_is_kept_whole() -> None:
    payload = b"a" * MAX_RAW_PAYLOAD_BYTES

    dead = record(payload)

    assert MAX_RAW_PAYLOAD_BYTES == 65_536
    assert dead["raw_payload"] == payload.decode()
    assert dead["truncated"] is False
    assert dead["raw_size_bytes"] == 65_536


def test_payload_over_64_kib_is_truncated_with_its_real_size() -> None:
    payload = b"a" * MAX_RAW_PAYLOAD_BYTES + b"b" * 1000

    dead = record(payload)

    assert dead["raw_payload"] == "a" * 65_536
    assert dead["truncated"] is True
    assert dead["raw_size_bytes"] == 66_536


def test_truncation_inside_a_multibyte_character_stays_visible() -> None:
    payload = b"a" * (MAX_RAW_PAYLOAD_BYTES - 1) + "é".encode()

    dead = record(payload)

    assert dead["raw_payload"] == "a" * (MAX_RAW_PAYLOAD_BYTES - 1) + "\\xc3"
    assert dead["truncated"] is True


def test_invalid_utf8_stays_visible_with_backslash_escapes() -> None:
    dead = record(b'{"customer_id": "\xff\xfe"}')

    assert dead["raw_payload"] == '{"customer_id": "\\xff\\xfe"}'
    assert dead["raw_size_bytes"] == 21


def test_valid_utf8_is_kept_as_text() -> None:
    assert record('{"loja": "São Paulo"}'.encode())["raw_payload"] == '{"loja": "São Paulo"}'


def test_dlq_id_is_deterministic_from_source_and_payload() -> None:
    first = record(b"{oops")
    replay = record(
        b"{oops",
        error_type=ErrorType.PROCESSING_ERROR,
        error_message="other",
        stage="detect",
        received_at="2027-01-01T00:00:00+00:00",
        pipeline_version="2.0.0",
    )

    assert first["dlq_id"] == replay["dlq_id"]


@pytest.mark.parametrize(
    "changes",
    [
        {"source": "kafka:transactions.raw/2/1043"},
        {"raw_payload": b"{oops!"},
    ],
)
def test_dlq_id_changes_with_source_or_payload(changes: dict[str, Any]) -> None:
    assert record(b"{oops")["dlq_id"] != record(**{"raw_payload": b"{oops", **changes})["dlq_id"]


def test_dlq_id_separates_source_from_payload() -> None:
    assert record(b"bc", source="a")["dlq_id"] != record(b"c", source="ab")["dlq_id"]


def test_dlq_id_covers_the_whole_payload_not_only_the_kept_part() -> None:
    kept = b"a" * MAX_RAW_PAYLOAD_BYTES

    assert record(kept + b"1")["dlq_id"] != record(kept + b"2")["dlq_id"]


def test_dlq_record_is_strict_json() -> None:
    dead = record(b"\x00\xff" * 10)

    assert json.loads(json.dumps(dead, allow_nan=False)) == dead


def test_dlq_record_from_a_parse_failure_keeps_the_reason_and_version() -> None:
    payload = b'{"schema_version": 2, "transaction_id": "t"}'
    invalid = parse_event(payload, business_timezone("America/Sao_Paulo"))
    assert isinstance(invalid, InvalidEvent)

    dead = record(
        payload,
        error_type=invalid.error_type,
        error_message=invalid.message,
        schema_version=invalid.schema_version,
    )

    assert dead["error_type"] == "MISSING_FIELD"
    assert dead["schema_version"] == 2
    assert dead["raw_payload"] == payload.decode()
