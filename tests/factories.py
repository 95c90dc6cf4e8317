"""Builders of raw input events for tests: valid by default, any field overridable."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
SAO_PAULO = (-23.5505, -46.6333)
RIO = (-22.9068, -43.1729)
MANAUS = (-3.1190, -60.0217)


def event(
    transaction_id: str,
    customer_id: str = "C1",
    *,
    at: datetime | timedelta = T0,
    amount: str = "50.00",
    where: tuple[float, float] | None = SAO_PAULO,
    store_id: str = "S-SAO-001",
    **overrides: Any,
) -> dict[str, Any]:
    """A valid v2 event; ``at`` is an absolute time or an offset from ``T0``."""
    moment = T0 + at if isinstance(at, timedelta) else at
    document: dict[str, Any] = {
        "schema_version": 2,
        "transaction_id": transaction_id,
        "customer_id": customer_id,
        "store_id": store_id,
        "product_id": "P-1",
        "amount": amount,
        "currency": "BRL",
        "payment_method": "credit_card",
        "latitude": where[0] if where else None,
        "longitude": where[1] if where else None,
        "timestamp": moment.isoformat(),
    }
    document.update(overrides)
    return document


def payload(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode("utf-8")


def raw_record(document: dict[str, Any] | bytes, line: int = 1) -> tuple[str, bytes]:
    body = document if isinstance(document, bytes) else payload(document)
    return f"test:{line}", body


def habitual_history(
    customer_id: str, days: int = 6, amount: str = "50.00"
) -> list[dict[str, Any]]:
    """One ordinary purchase a day at noon, same place: enough history for every rule."""
    return [
        event(f"{customer_id}-h{day}", customer_id, at=timedelta(days=day), amount=amount)
        for day in range(days)
    ]


def feedback(
    transaction_id: str,
    customer_id: str = "C1",
    *,
    at: datetime | timedelta = T0,
    store_id: str = "S-SAO-001",
    label: str = "fraud",
) -> dict[str, Any]:
    """A valid confirmed-outcome record reported at ``at`` (absolute, or an offset from T0)."""
    moment = T0 + at if isinstance(at, timedelta) else at
    return {
        "transaction_id": transaction_id,
        "customer_id": customer_id,
        "store_id": store_id,
        "label": label,
        "reported_at": moment.isoformat(),
    }
