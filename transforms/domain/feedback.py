"""Confirmed outcomes arriving after the fact: the feedback contract and its parser.

A chargeback or an analyst's verdict says, days after a transaction, whether it was fraud::

    {"transaction_id": "...", "customer_id": "...", "store_id": "...",
     "label": "fraud" | "genuine", "reported_at": "2026-10-08T09:30:00-03:00"}

Unknown fields are ignored, so the producer can add some. ``reported_at`` must carry a UTC
offset: a verdict takes effect at that instant and never before, and a naive time would move
it by hours. Whatever is not a valid record becomes an ``InvalidRecord`` with the same stable
error types as events, so the caller dead-letters it (stage ``parse_feedback``): the parser
never raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from transforms.domain.json_fields import (
    InvalidRecord,
    InvalidRecordError,
    decode_object,
    one_of,
    text,
    timestamp,
)

FeedbackLabel = Literal["fraud", "genuine"]
LABELS: tuple[FeedbackLabel, ...] = ("fraud", "genuine")
MAX_FEEDBACK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Feedback:
    """A confirmed outcome of one transaction; ``reported_at_ms`` is UTC epoch milliseconds."""

    transaction_id: str
    customer_id: str
    store_id: str
    label: FeedbackLabel
    reported_at_ms: int

    @property
    def is_fraud(self) -> bool:
        return self.label == "fraud"


def feedback_document(
    *,
    feedback_id: str,
    transaction_id: str,
    customer_id: str,
    store_id: str,
    label: str,
    reported_at: datetime,
    source: str,
) -> dict[str, str]:
    """A confirmed outcome as the topic and the feedback archive carry it: the contract's
    fields (``reported_at`` with its offset, to the millisecond), a stable ``feedback_id`` and
    where it came from (fields the parser ignores)."""
    return {
        "feedback_id": feedback_id,
        "transaction_id": transaction_id,
        "customer_id": customer_id,
        "store_id": store_id,
        "label": label,
        "reported_at": reported_at.isoformat(timespec="milliseconds"),
        "source": source,
    }


def parse_feedback(
    payload: bytes | str, max_payload_bytes: int = MAX_FEEDBACK_BYTES
) -> Feedback | InvalidRecord:
    """Parse one raw feedback payload. Never raises."""
    try:
        document = decode_object(payload, max_payload_bytes)
        return Feedback(
            transaction_id=text(document, "transaction_id", 100),
            customer_id=text(document, "customer_id", 100),
            store_id=text(document, "store_id", 50),
            label=_label(document),
            reported_at_ms=timestamp(document, "reported_at", None),  # offset required
        )
    except InvalidRecordError as invalid:
        return InvalidRecord(invalid.error_type, invalid.message)


def _label(document: dict[str, object]) -> FeedbackLabel:
    return "fraud" if one_of(document, "label", LABELS) == "fraud" else "genuine"
