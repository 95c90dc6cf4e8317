"""Confirmed fraud as it reaches a fraud team: a chargeback per fraudulent transaction, reported
some days after the transaction (``feedback.jsonl``, the contract of
:mod:`transforms.domain.feedback`).

Each report lands ``delay_days`` after its transaction plus up to a day of jitter (when the
cardholder noticed); reports are sorted by ``reported_at``, as a feed delivers them. Only fraud
is reported: genuine transactions are never disputed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pipelines.synthetic.labels import Label
from transforms.domain.event_time import DEFAULT_BUSINESS_TIMEZONE, business_timezone
from transforms.domain.events import Transaction, parse_event

_DAY_MS = 86_400_000


def feedback_records(
    lines: Iterable[bytes], labels: Iterable[Label], delay_days: float, seed: int
) -> list[dict[str, Any]]:
    """One fraud report per fraudulent valid line, reported ``delay_days`` (plus jitter) after
    the transaction; sorted by report time."""
    fraud = {label["transaction_id"] for label in labels if label["is_fraud"]}
    zone = business_timezone(DEFAULT_BUSINESS_TIMEZONE)
    rng = random.Random(seed)
    reports: list[tuple[int, str, dict[str, Any]]] = []
    for line in lines:
        event = parse_event(line, zone)
        if not isinstance(event, Transaction) or event.transaction_id not in fraud:
            continue
        reported_ms = event.event_time_ms + round(delay_days * _DAY_MS) + rng.randrange(_DAY_MS)
        reported_at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=reported_ms)
        record = {
            "transaction_id": event.transaction_id,
            "customer_id": event.customer_id,
            "store_id": event.store_id,
            "label": "fraud",
            "reported_at": reported_at.isoformat(timespec="seconds"),
        }
        reports.append((reported_ms, event.transaction_id, record))
    return [record for *_, record in sorted(reports, key=lambda report: report[:2])]


def feedback_lines(records: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)
