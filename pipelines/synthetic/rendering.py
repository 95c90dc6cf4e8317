"""Valid events as a messy producer fleet delivers them, with their delivery times.

~70% schema v2 with an ISO-8601 timestamp carrying the store's UTC offset (or ``Z``), ~30% legacy
v1 with a naive timestamp in business time, a few forward-compatible v3 events with an unknown
field, amounts mostly as 2-decimal strings but sometimes as JSON numbers, a few events without
coordinates, and delivery slightly out of event-time order.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

from pipelines.synthetic.customers import Customer, Txn
from pipelines.synthetic.labels import Label
from pipelines.synthetic.world import BUSINESS_TZ, Store

_V1_SHARE: Final = 0.30
_V3_SHARE: Final = 0.004
_UTC_Z_SHARE: Final = 0.2
_NUMERIC_AMOUNT_SHARE: Final = 0.2
_GPS_NOISE_DEG: Final = 0.0004  # ~45 m around the store
_V3_CHANNELS: Final = ("pos", "mobile_app", "web")


@dataclass(frozen=True, slots=True)
class Line:
    delivery: float
    payload: bytes
    label: Label | None


def _transaction_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def format_cents(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def v1_timestamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, BUSINESS_TZ).strftime("%Y-%m-%dT%H:%M:%S")


def _v2_timestamp(rng: random.Random, epoch: int, store: Store) -> str:
    if rng.random() < _UTC_Z_SHARE:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return datetime.fromtimestamp(epoch, ZoneInfo(store.city.tz)).isoformat()


def render_event(rng: random.Random, customer_id: str, txn: Txn) -> tuple[dict[str, object], int]:
    """A valid event record and its schema version (1, 2 or 3)."""
    roll = rng.random()
    version = 1 if roll < _V1_SHARE else 3 if roll < _V1_SHARE + _V3_SHARE else 2
    record: dict[str, object] = {}
    if version > 1 or rng.random() < 0.5:  # legacy producers often omit the version
        record["schema_version"] = version
    record["transaction_id"] = _transaction_id(rng)
    record["customer_id"] = customer_id
    record["store_id"] = txn.store.store_id
    record["product_id"] = txn.product_id
    amount = format_cents(txn.amount_cents)
    record["amount"] = float(amount) if rng.random() < _NUMERIC_AMOUNT_SHARE else amount
    record["currency"] = "BRL"
    record["payment_method"] = txn.payment_method
    if txn.located:
        record["latitude"] = round(
            txn.store.latitude + rng.uniform(-_GPS_NOISE_DEG, _GPS_NOISE_DEG), 6
        )
        record["longitude"] = round(
            txn.store.longitude + rng.uniform(-_GPS_NOISE_DEG, _GPS_NOISE_DEG), 6
        )
    else:
        record["latitude"] = record["longitude"] = None
    record["timestamp"] = (
        v1_timestamp(txn.epoch) if version == 1 else _v2_timestamp(rng, txn.epoch, txn.store)
    )
    if version == 3:
        record["channel"] = rng.choice(_V3_CHANNELS)  # a field v2 consumers do not know
    return record, version


def dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def delivery_lag_s(rng: random.Random) -> float:
    """Transport delay: mostly seconds, sometimes minutes (reorders neighbours)."""
    roll = rng.random()
    if roll < 0.80:
        return rng.uniform(0, 20)
    if roll < 0.97:
        return rng.uniform(20, 180)
    return rng.uniform(180, 600)


def render_valid(rng: random.Random, customers: list[Customer]) -> list[Line]:
    lines: list[Line] = []
    for customer in customers:
        for txn in customer.txns:
            record, _ = render_event(rng, customer.customer_id, txn)
            label: Label = {
                "transaction_id": str(record["transaction_id"]),
                "is_fraud": txn.pattern is not None,
                "pattern": txn.pattern,
            }
            lines.append(Line(txn.epoch + delivery_lag_s(rng), dumps(record), label))
    return lines
