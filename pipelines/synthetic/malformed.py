"""Malformed lines: valid v2 events corrupted the ways real producers corrupt them.

They carry no label: the pipeline must send each one to its dead-letter output.
"""

from __future__ import annotations

import math
import random
from typing import Final

from pipelines.synthetic.customers import Customer, Txn
from pipelines.synthetic.rendering import (
    Line,
    delivery_lag_s,
    dumps,
    format_cents,
    render_event,
    v1_timestamp,
)
from pipelines.synthetic.world import HOUR

MALFORMED_KINDS: Final[tuple[str, ...]] = (
    "not_json",
    "json_array",
    "missing_customer_id",
    "negative_amount",
    "amount_3_decimals",
    "non_numeric_amount",
    "v2_timestamp_without_offset",
    "latitude_without_longitude",
    "latitude_out_of_range",
    "empty_transaction_id",
    "lowercase_currency",
    "invalid_utf8",
    "schema_version_0",
    "nan_amount",
)


def corrupt(rng: random.Random, kind: str, record: dict[str, object], epoch: int) -> bytes:
    """Corrupt an otherwise valid v2 ``record`` (at ``epoch``) the way ``kind`` describes."""
    bad = dict(record)
    cents = round(float(str(record["amount"])) * 100)
    match kind:
        case "not_json":
            text = dumps(record)
            return text[: len(text) // 2]  # a producer died mid-write
        case "json_array":
            return dumps(list(record.values()))
        case "missing_customer_id":
            del bad["customer_id"]
        case "negative_amount":
            bad["amount"] = format_cents(-cents)
        case "amount_3_decimals":
            bad["amount"] = f"{format_cents(cents)}{rng.randint(1, 9)}"
        case "non_numeric_amount":
            bad["amount"] = format_cents(cents).replace(".", ",")  # pt-BR decimal comma
        case "v2_timestamp_without_offset":
            bad["timestamp"] = v1_timestamp(epoch)
        case "latitude_without_longitude":
            del bad["longitude"]
        case "latitude_out_of_range":
            bad["latitude"] = 123.0
        case "empty_transaction_id":
            bad["transaction_id"] = ""
        case "lowercase_currency":
            bad["currency"] = "brl"
        case "invalid_utf8":
            # A legacy producer wrote Latin-1 text into a UTF-8 stream.
            text = dumps(bad)
            return text[:-1] + b',"merchant_name":"Padaria S\xe3o Jo\xe3o"}'
        case "schema_version_0":
            bad["schema_version"] = 0
        case "nan_amount":
            bad["amount"] = math.nan  # json.dumps writes the non-standard NaN
        case _:
            raise ValueError(f"unknown malformed kind: {kind}")
    return dumps(bad)


def render_malformed(
    rng: random.Random, customers: list[Customer], malformed_rate: float, n_valid: int
) -> list[Line]:
    """``malformed_rate * n_valid`` extra lines, cycling through every kind."""
    n = round(n_valid * malformed_rate)
    active = [c for c in customers if c.txns]
    if n == 0 or not active:
        return []
    kinds = list(MALFORMED_KINDS)
    rng.shuffle(kinds)
    lines: list[Line] = []
    for k in range(n):
        customer = rng.choice(active)
        base = rng.choice(customer.txns)
        txn = Txn(
            base.epoch + rng.randint(-HOUR, HOUR),
            base.store,
            base.amount_cents,
            None,
            True,
            base.payment_method,
            base.product_id,
        )
        record = _v2_record(rng, customer.customer_id, txn)
        payload = corrupt(rng, kinds[k % len(kinds)], record, txn.epoch)
        lines.append(Line(txn.epoch + delivery_lag_s(rng), payload, None))
    return lines


def _v2_record(rng: random.Random, customer_id: str, txn: Txn) -> dict[str, object]:
    while True:
        record, version = render_event(rng, customer_id, txn)
        if version == 2:
            return record
