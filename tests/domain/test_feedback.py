"""The feedback contract: confirmed outcomes parse, unknown fields are ignored, and every bad
record becomes an InvalidRecord with a stable error type, never an exception."""

from __future__ import annotations

import json
from typing import Any

import pytest

from transforms.domain.event_time import parse_timestamp
from transforms.domain.feedback import Feedback, parse_feedback
from transforms.domain.json_fields import ErrorType, InvalidRecord

GOOD: dict[str, Any] = {
    "transaction_id": "t1",
    "customer_id": "c1",
    "store_id": "s1",
    "label": "fraud",
    "reported_at": "2026-10-08T09:30:00-03:00",
}


def _parsed(**changes: Any) -> Feedback | InvalidRecord:
    record = {**GOOD, **changes}
    return parse_feedback(json.dumps({k: v for k, v in record.items() if v is not ...}))


def test_a_confirmed_fraud_takes_effect_at_its_reported_instant() -> None:
    feedback = _parsed(channel="chargeback")  # unknown fields are ignored
    assert feedback == Feedback(
        "t1", "c1", "s1", "fraud", parse_timestamp("2026-10-08T12:30:00+00:00", None)
    )
    assert isinstance(feedback, Feedback)
    assert feedback.is_fraud
    genuine = _parsed(label="genuine")
    assert isinstance(genuine, Feedback)
    assert not genuine.is_fraud


@pytest.mark.parametrize(
    ("changes", "error_type", "message"),
    [
        ({"label": "maybe"}, ErrorType.INVALID_FIELD, "label: expected one of fraud, genuine"),
        ({"label": ...}, ErrorType.MISSING_FIELD, "label: required"),
        ({"store_id": ...}, ErrorType.MISSING_FIELD, "store_id: required"),
        ({"customer_id": 7}, ErrorType.INVALID_FIELD, "customer_id: expected a string"),
        ({"reported_at": "2026-10-08T09:30:00"}, ErrorType.INVALID_FIELD, "UTC offset"),
        ({"reported_at": 1700000000}, ErrorType.INVALID_FIELD, "expected an ISO-8601 string"),
        ({"reported_at": "0001-01-01T00:00:00+00:00"}, ErrorType.INVALID_FIELD, "outside"),
        ({"transaction_id": ""}, ErrorType.INVALID_FIELD, "transaction_id: must have"),
    ],
)
def test_bad_records_are_invalid_with_a_stable_error_type(
    changes: dict[str, Any], error_type: ErrorType, message: str
) -> None:
    invalid = _parsed(**changes)
    assert isinstance(invalid, InvalidRecord)
    assert invalid.error_type is error_type
    assert message in invalid.message


@pytest.mark.parametrize(
    ("payload", "error_type"),
    [
        (b"not json", ErrorType.INVALID_JSON),
        (b"\xff\xfe", ErrorType.INVALID_JSON),
        (b"[1, 2]", ErrorType.NOT_AN_OBJECT),
        (b'{"x": "' + b"a" * 70_000 + b'"}', ErrorType.PAYLOAD_TOO_LARGE),
    ],
)
def test_payloads_that_are_no_object_are_invalid(payload: bytes, error_type: ErrorType) -> None:
    invalid = parse_feedback(payload)
    assert isinstance(invalid, InvalidRecord)
    assert invalid.error_type is error_type
