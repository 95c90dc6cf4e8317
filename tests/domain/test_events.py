"""The input event contract: one parser, exact amounts, and a DLQ reason for the rest.

Contract: docs/architecture.md, "Event contract".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.domain.event_time import business_timezone, local_hour_of_day
from transforms.domain.events import (
    CURRENT_SCHEMA_VERSION,
    DEFAULT_MAX_PAYLOAD_BYTES,
    InvalidEvent,
    Transaction,
    decode_transaction,
    encode_transaction,
    parse_event,
)
from transforms.domain.json_fields import ErrorType

ZONE = business_timezone("America/Sao_Paulo")
DROP = object()  # marks a field to remove from the valid event
REQUIRED_FIELDS = ("transaction_id", "customer_id", "store_id", "amount", "timestamp")
KNOWN_FIELDS = (
    "schema_version",
    *REQUIRED_FIELDS,
    "product_id",
    "currency",
    "payment_method",
    "latitude",
    "longitude",
)


def event(**changes: Any) -> dict[str, Any]:
    """A valid v1 event, with fields replaced (or removed with DROP)."""
    document: dict[str, Any] = {
        "transaction_id": "tx-1",
        "customer_id": "cust-1",
        "store_id": "store-1",
        "amount": "10.50",
        "timestamp": "2026-10-01T10:00:00",
    }
    for name, value in changes.items():
        if value is DROP:
            document.pop(name, None)
        else:
            document[name] = value
    return document


def parse(document: dict[str, Any], **kwargs: Any) -> Transaction | InvalidEvent:
    return parse_event(json.dumps(document).encode("utf-8"), ZONE, **kwargs)


def utc_millis(year: int, month: int, day: int, hour: int, minute: int) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()) * 1000


def parsed(document: dict[str, Any]) -> Transaction:
    result = parse(document)
    assert isinstance(result, Transaction), result
    return result


def rejected(payload: dict[str, Any] | bytes | str, **kwargs: Any) -> InvalidEvent:
    if isinstance(payload, dict):
        result = parse(payload, **kwargs)
    else:
        result = parse_event(payload, ZONE, **kwargs)
    assert isinstance(result, InvalidEvent), result
    assert result.message
    return result


# --- versions and event time ---------------------------------------------------------------


def test_v1_naive_timestamp_is_read_in_the_business_time_zone() -> None:
    transaction = parsed(event(schema_version=1, timestamp="2026-10-01T10:00:00"))

    assert transaction.event_time_ms == utc_millis(2026, 10, 1, 13, 0)
    assert transaction.to_record()["event_time"] == "2026-10-01T13:00:00.000Z"
    assert transaction.schema_version == 1


def test_v1_timestamp_with_an_offset_keeps_its_offset() -> None:
    transaction = parsed(event(schema_version=1, timestamp="2026-10-01T10:00:00+00:00"))

    assert transaction.event_time_ms == utc_millis(2026, 10, 1, 10, 0)


def test_missing_schema_version_means_version_1() -> None:
    transaction = parsed(event(schema_version=DROP, timestamp="2026-10-01T10:00:00"))

    assert transaction.schema_version == 1
    assert transaction.event_time_ms == utc_millis(2026, 10, 1, 13, 0)


def test_null_schema_version_means_version_1() -> None:
    assert parsed(event(schema_version=None)).schema_version == 1


@pytest.mark.parametrize(
    ("timestamp", "utc_hour"),
    [
        ("2026-10-01T10:00:00+02:00", 8),
        ("2026-10-01T10:00:00Z", 10),
        ("2026-10-01T10:00:00-03:00", 13),
    ],
)
def test_v2_timestamp_with_an_offset_is_converted_to_utc(timestamp: str, utc_hour: int) -> None:
    transaction = parsed(event(schema_version=2, timestamp=timestamp))

    assert transaction.event_time_ms == utc_millis(2026, 10, 1, utc_hour, 0)
    assert transaction.schema_version == CURRENT_SCHEMA_VERSION == 2


def test_v2_naive_timestamp_is_an_invalid_field() -> None:
    invalid = rejected(event(schema_version=2, timestamp="2026-10-01T10:00:00"))

    assert invalid.error_type is ErrorType.INVALID_FIELD
    assert "timestamp" in invalid.message
    assert invalid.schema_version == 2


def test_timestamp_keeps_milliseconds() -> None:
    transaction = parsed(event(schema_version=2, timestamp="2026-10-01T10:00:00.123456Z"))

    assert transaction.event_time_ms == utc_millis(2026, 10, 1, 10, 0) + 123


def test_future_schema_version_with_unknown_fields_parses_the_known_fields() -> None:
    document = event(
        schema_version=3,
        timestamp="2026-10-01T10:00:00Z",
        loyalty_tier="gold",
        device={"os": "android", "rooted": False},
        tags=[1, 2, 3],
    )

    transaction = parsed(document)

    assert transaction.schema_version == 3
    assert transaction.transaction_id == "tx-1"
    assert transaction.amount == Decimal("10.50")
    assert transaction.event_time_ms == utc_millis(2026, 10, 1, 10, 0)


def test_future_schema_version_still_requires_an_offset() -> None:
    invalid = rejected(event(schema_version=3, timestamp="2026-10-01T10:00:00"))

    assert invalid.error_type is ErrorType.INVALID_FIELD
    assert invalid.schema_version == 3


@pytest.mark.parametrize("version", [0, -1])
def test_schema_version_below_1_is_unsupported(version: int) -> None:
    invalid = rejected(event(schema_version=version))

    assert invalid.error_type is ErrorType.UNSUPPORTED_SCHEMA
    assert invalid.schema_version is None


@pytest.mark.parametrize("version", ["2", True, [2], {"v": 2}])
def test_non_integer_schema_version_is_an_invalid_field(version: Any) -> None:
    invalid = rejected(event(schema_version=version))

    assert invalid.error_type is ErrorType.INVALID_FIELD
    assert "schema_version" in invalid.message


def test_fractional_schema_version_is_an_invalid_field() -> None:
    payload = b'{"schema_version": 2.0, "transaction_id": "t", "customer_id": "c", "store_id": "s",'
    payload += b' "amount": 1, "timestamp": "2026-10-01T10:00:00Z"}'

    assert rejected(payload).error_type is ErrorType.INVALID_FIELD


# --- a complete valid event ----------------------------------------------------------------


def test_every_field_is_normalised_into_the_transaction() -> None:
    document = event(
        schema_version=2,
        timestamp="2026-10-01T10:00:00-03:00",
        amount=45.5,
        currency="USD",
        product_id="sku-9",
        payment_method="pix",
        latitude=-23.55,
        longitude=-46.63,
    )

    assert parsed(document) == Transaction(
        transaction_id="tx-1",
        customer_id="cust-1",
        store_id="store-1",
        amount=Decimal("45.50"),
        event_time_ms=utc_millis(2026, 10, 1, 13, 0),
        currency="USD",
        product_id="sku-9",
        payment_method="pix",
        latitude=-23.55,
        longitude=-46.63,
        schema_version=2,
    )


def test_optional_fields_default_when_absent_or_null() -> None:
    for document in (event(), event(currency=None, product_id=None, payment_method=None)):
        transaction = parsed(document)
        assert transaction.currency == "BRL"
        assert transaction.product_id is None
        assert transaction.payment_method is None
        assert transaction.latitude is None
        assert transaction.longitude is None
        assert not transaction.has_location


def test_both_coordinates_give_a_location() -> None:
    transaction = parsed(event(latitude=0, longitude=0))

    assert transaction.has_location
    assert (transaction.latitude, transaction.longitude) == (0.0, 0.0)


@pytest.mark.parametrize(
    "changes",
    [
        {"latitude": 90, "longitude": 180},
        {"latitude": -90, "longitude": -180},
        {"amount": "0.01"},
        {"amount": "9999999999.99"},
        {"transaction_id": "t" * 100, "customer_id": "c" * 100, "store_id": "s" * 50},
    ],
    ids=["max-coordinates", "min-coordinates", "min-amount", "max-amount", "max-id-lengths"],
)
def test_values_at_the_inclusive_limits_are_valid(changes: dict[str, Any]) -> None:
    parsed(event(**changes))


def test_to_record_carries_the_normalised_fields() -> None:
    record = parsed(event(amount=7, latitude=1.5, longitude=-2.5)).to_record()

    assert record == {
        "transaction_id": "tx-1",
        "customer_id": "cust-1",
        "store_id": "store-1",
        "product_id": None,
        "amount": "7.00",
        "currency": "BRL",
        "payment_method": None,
        "latitude": 1.5,
        "longitude": -2.5,
        "event_time": "2026-10-01T13:00:00.000Z",
        "schema_version": 1,
    }


# --- exact amounts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_amount", "expected"),
    [
        ('"10.1"', "10.10"),
        ('"10"', "10.00"),
        ('"0.07"', "0.07"),
        ("45.5", "45.50"),
        ("19.99", "19.99"),
        ("7", "7.00"),
        ("1E2", "100.00"),
    ],
)
def test_amount_is_kept_exact_with_two_decimals(raw_amount: str, expected: str) -> None:
    payload = (
        '{"transaction_id": "t", "customer_id": "c", "store_id": "s", '
        f'"amount": {raw_amount}, "timestamp": "2026-10-01T10:00:00"}}'
    )

    result = parse_event(payload, ZONE)

    assert isinstance(result, Transaction)
    assert result.amount == Decimal(expected)
    assert str(result.amount) == expected
    assert result.to_record()["amount"] == expected


def test_json_number_amounts_do_not_pick_up_binary_float_error() -> None:
    amounts = []
    for raw in ("0.1", "0.2"):
        payload = (
            '{"transaction_id": "t", "customer_id": "c", "store_id": "s", '
            f'"amount": {raw}, "timestamp": "2026-10-01T10:00:00"}}'
        )
        result = parse_event(payload, ZONE)
        assert isinstance(result, Transaction)
        amounts.append(result.amount)

    assert amounts[0] + amounts[1] == Decimal("0.30")
    assert 0.1 + 0.2 != 0.3  # the float trap the Decimal parse avoids


# --- every error type from a concrete payload ----------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{",
        b"not json",
        b'{"a": 1} {"b": 2}',
        b"{'single': 'quotes'}",
        b"\xff\xfe{}",
        b'{"transaction_id": "\xc3\x28"}',
        b'{"amount": NaN}',
        b'{"amount": Infinity}',
        b'{"amount": -Infinity}',
        b"[NaN]",
        b"[" * 100_000 + b"]" * 100_000,
        "\ud800",
    ],
    ids=[
        "empty",
        "unterminated",
        "text",
        "two-documents",
        "single-quotes",
        "invalid-utf8",
        "invalid-utf8-in-string",
        "nan",
        "infinity",
        "minus-infinity",
        "nan-in-array",
        "too-deep",
        "lone-surrogate-text",
    ],
)
def test_payload_that_is_not_json_is_invalid_json(payload: bytes | str) -> None:
    invalid = rejected(payload)

    assert invalid.error_type is ErrorType.INVALID_JSON
    assert invalid.schema_version is None


@pytest.mark.parametrize(
    "payload", ["[]", '[{"transaction_id": "t"}]', '"text"', "42", "4.5", "null", "true"]
)
def test_json_that_is_not_an_object_is_not_an_object(payload: str) -> None:
    invalid = rejected(payload)

    assert invalid.error_type is ErrorType.NOT_AN_OBJECT


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_each_required_field_absent_is_a_missing_field(field: str) -> None:
    invalid = rejected(event(**{field: DROP}))

    assert invalid.error_type is ErrorType.MISSING_FIELD
    assert field in invalid.message
    assert invalid.schema_version == 1


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_each_required_field_null_is_a_missing_field(field: str) -> None:
    invalid = rejected(event(**{field: None}))

    assert invalid.error_type is ErrorType.MISSING_FIELD
    assert field in invalid.message


INVALID_FIELDS: dict[str, dict[str, Any]] = {
    "amount-zero": {"amount": 0},
    "amount-zero-text": {"amount": "0.00"},
    "amount-negative": {"amount": -5},
    "amount-negative-text": {"amount": "-0.01"},
    "amount-10^10": {"amount": 10**10},
    "amount-10^10-text": {"amount": "10000000000"},
    "amount-10^10-exponent": {"amount": "1e10"},
    "amount-three-decimals": {"amount": "10.123"},
    "amount-sub-cent": {"amount": "0.001"},
    "amount-not-numeric": {"amount": "ten"},
    "amount-empty-text": {"amount": ""},
    "amount-nan-text": {"amount": "NaN"},
    "amount-infinity-text": {"amount": "Infinity"},
    "amount-true": {"amount": True},
    "amount-false": {"amount": False},
    "amount-list": {"amount": [10]},
    "amount-object": {"amount": {"value": 10}},
    "currency-lowercase": {"currency": "brl"},
    "currency-two-letters": {"currency": "BR"},
    "currency-four-letters": {"currency": "BRLL"},
    "currency-number": {"currency": 986},
    "latitude-without-longitude": {"latitude": -23.5},
    "longitude-without-latitude": {"longitude": -46.6},
    "latitude-91": {"latitude": 91, "longitude": 0},
    "latitude-minus-91": {"latitude": -91, "longitude": 0},
    "longitude-181": {"longitude": 181, "latitude": 0},
    "latitude-text": {"latitude": "10.0", "longitude": 0},
    "latitude-bool": {"latitude": True, "longitude": 0},
    "latitude-beyond-float-range": {"latitude": 10**400, "longitude": 0},
    "transaction-id-empty": {"transaction_id": ""},
    "transaction-id-blank": {"transaction_id": "   "},
    "transaction-id-101": {"transaction_id": "t" * 101},
    "customer-id-101": {"customer_id": "c" * 101},
    "store-id-51": {"store_id": "s" * 51},
    "transaction-id-number": {"transaction_id": 123},
    "customer-id-list": {"customer_id": ["c"]},
    "store-id-bool": {"store_id": True},
    "product-id-number": {"product_id": 5},
    "payment-method-too-long": {"payment_method": "p" * 51},
    "timestamp-number": {"timestamp": 1_790_000_000},
    "timestamp-text": {"timestamp": "yesterday"},
    "timestamp-month-13": {"timestamp": "2026-13-01T10:00:00"},
    "timestamp-after-year-9999-in-utc": {"timestamp": "9999-12-31T23:59:59-23:59"},
    "timestamp-before-year-1-in-zone": {"timestamp": "0001-01-01T00:00:00+00:00"},
}


@pytest.mark.parametrize("changes", INVALID_FIELDS.values(), ids=INVALID_FIELDS.keys())
def test_each_field_rule_violation_is_an_invalid_field(changes: dict[str, Any]) -> None:
    invalid = rejected(event(**changes))

    assert invalid.error_type is ErrorType.INVALID_FIELD
    assert invalid.schema_version == 1
    field = next(iter(changes))
    assert field.split("_")[0] in invalid.message


def test_amount_as_a_json_number_with_three_decimals_is_an_invalid_field() -> None:
    payload = (
        b'{"transaction_id": "t", "customer_id": "c", "store_id": "s", '
        b'"amount": 10.123, "timestamp": "2026-10-01T10:00:00"}'
    )

    assert rejected(payload).error_type is ErrorType.INVALID_FIELD


def test_lone_surrogate_escape_in_an_id_is_an_invalid_field() -> None:
    # valid JSON, but no UTF-8 sink (Kafka, files, Postgres) could write the id
    payload = (
        b'{"transaction_id": "\\ud800", "customer_id": "c", "store_id": "s", '
        b'"amount": 1, "timestamp": "2026-10-01T10:00:00"}'
    )

    invalid = rejected(payload)

    assert invalid.error_type is ErrorType.INVALID_FIELD
    assert "transaction_id" in invalid.message


def test_payload_over_max_payload_bytes_is_too_large() -> None:
    payload = json.dumps(event(note="x" * 100)).encode("utf-8")

    assert isinstance(parse_event(payload, ZONE, max_payload_bytes=len(payload)), Transaction)
    invalid = rejected(payload, max_payload_bytes=len(payload) - 1)
    assert invalid.error_type is ErrorType.PAYLOAD_TOO_LARGE
    assert str(len(payload)) in invalid.message


def test_payload_size_is_measured_in_utf8_bytes_not_characters() -> None:
    text = json.dumps(event(note="é" * 50), ensure_ascii=False)
    size = len(text.encode("utf-8"))
    assert len(text) < size

    assert rejected(text, max_payload_bytes=len(text)).error_type is ErrorType.PAYLOAD_TOO_LARGE
    assert isinstance(parse_event(text, ZONE, max_payload_bytes=size), Transaction)


def test_default_payload_limit_is_one_mebibyte() -> None:
    assert DEFAULT_MAX_PAYLOAD_BYTES == 1024 * 1024
    too_large = b" " * (DEFAULT_MAX_PAYLOAD_BYTES + 1)

    assert rejected(too_large).error_type is ErrorType.PAYLOAD_TOO_LARGE


def test_every_error_type_but_processing_and_sink_errors_comes_from_a_payload() -> None:
    payloads: list[dict[str, Any] | bytes] = [
        b"{",
        b"[]",
        event(amount=DROP),
        event(amount=0),
        event(schema_version=0),
        json.dumps(event(note="x" * 300)).encode("utf-8"),
    ]
    seen = {rejected(p, max_payload_bytes=200).error_type for p in payloads}

    assert seen == set(ErrorType) - {ErrorType.PROCESSING_ERROR, ErrorType.SINK_REJECTED}


def test_str_and_bytes_payloads_parse_the_same() -> None:
    text = json.dumps(event(store_id="loja-são-paulo"), ensure_ascii=False)

    assert parse_event(text, ZONE) == parse_event(text.encode("utf-8"), ZONE)


# --- the transaction codec -----------------------------------------------------------------

identifiers = st.text(min_size=1, max_size=100)
coordinates = st.one_of(
    st.none(),
    st.tuples(
        st.floats(-90, 90, allow_nan=False),
        st.floats(-180, 180, allow_nan=False),
    ),
)


@st.composite
def transactions(draw: st.DrawFn) -> Transaction:
    location = draw(coordinates)
    return Transaction(
        transaction_id=draw(identifiers),
        customer_id=draw(identifiers),
        store_id=draw(st.text(min_size=1, max_size=50)),
        amount=draw(
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999999999.99"), places=2)
        ),
        event_time_ms=draw(st.integers(-(2**53), 2**53)),
        currency=draw(st.from_regex(r"[A-Z]{3}", fullmatch=True)),
        product_id=draw(st.none() | identifiers),
        payment_method=draw(st.none() | st.sampled_from(["pix", "credit_card", "boleto"])),
        latitude=None if location is None else location[0],
        longitude=None if location is None else location[1],
        schema_version=draw(st.integers(1, 1000)),
    )


@given(transactions())
def test_transaction_encoding_round_trips(transaction: Transaction) -> None:
    encoded = encode_transaction(transaction)

    assert decode_transaction(encoded) == transaction
    assert encode_transaction(decode_transaction(encoded)) == encoded


def test_transaction_encoding_keeps_the_amount_text_exact() -> None:
    transaction = parsed(event(amount="10.10"))

    decoded = decode_transaction(encode_transaction(transaction))

    assert str(decoded.amount) == "10.10"


@pytest.mark.parametrize("data", [b"", b"\x00[]", b"\x02[]"])
def test_decoding_an_unknown_transaction_encoding_raises_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="encoding version"):
        decode_transaction(data)


# --- the parser never raises ---------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(exclude_categories=())),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def assert_one_outcome(result: object) -> None:
    """Exactly one of Transaction / InvalidEvent, and either one usable downstream."""
    assert isinstance(result, Transaction) != isinstance(result, InvalidEvent)
    if isinstance(result, InvalidEvent):
        assert isinstance(result.error_type, ErrorType)
        assert result.error_type is not ErrorType.PROCESSING_ERROR
        assert isinstance(result.message, str)
        assert result.message
        return
    assert isinstance(result, Transaction)
    assert Decimal(0) < result.amount < Decimal(10) ** 10
    assert result.amount.as_tuple().exponent == -2
    json.dumps(result.to_record(), allow_nan=False).encode("utf-8")
    assert decode_transaction(encode_transaction(result)) == result
    assert 0.0 <= local_hour_of_day(result.event_time_ms, ZONE) < 24.0


@given(st.binary(max_size=300))
def test_parser_never_raises_on_arbitrary_bytes(payload: bytes) -> None:
    assert_one_outcome(parse_event(payload, ZONE))


@given(st.text(st.characters(exclude_categories=()), max_size=300))
def test_parser_never_raises_on_arbitrary_text(payload: str) -> None:
    assert_one_outcome(parse_event(payload, ZONE))


@given(json_values)
def test_parser_never_raises_on_arbitrary_json(value: Any) -> None:
    assert_one_outcome(parse_event(json.dumps(value), ZONE))


@given(
    st.dictionaries(st.sampled_from(KNOWN_FIELDS), json_values | st.just(DROP), min_size=1),
    st.sampled_from([1, 2, 3]),
)
def test_parser_never_raises_on_valid_events_with_fields_replaced(
    replacements: dict[str, Any], version: int
) -> None:
    document = event(schema_version=version, timestamp="2026-10-01T10:00:00-03:00")
    document = event(**{**document, **replacements})

    assert_one_outcome(parse_event(json.dumps(document), ZONE))


@given(
    st.sampled_from(KNOWN_FIELDS),
    st.text(st.characters(exclude_categories=()), max_size=20)
    | st.decimals(allow_nan=False, allow_infinity=False).map(str)
    | st.integers().map(str)
    | st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-0", "0.001", "1" + "0" * 400]),
)
def test_parser_never_raises_on_valid_events_with_raw_json_literals(
    field: str, literal: str
) -> None:
    # splice raw JSON text, so number forms json.dumps would never write reach the parser
    document = event(**{"timestamp": "2026-10-01T10:00:00-03:00", field: "__HOLE__"})
    text = json.dumps(document).replace('"__HOLE__"', literal)

    assert_one_outcome(parse_event(text, ZONE))
