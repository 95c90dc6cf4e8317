"""Training labels read feedback with the pipeline's own meaning (transforms.domain.verdicts)."""

from __future__ import annotations

import json

from ml.supervised import confirmed_frauds
from transforms.domain.event_time import format_utc


def _line(transaction_id: str, at_ms: int, label: str = "fraud") -> bytes:
    record = {
        "transaction_id": transaction_id,
        "customer_id": "C",
        "store_id": "S",
        "label": label,
        "reported_at": format_utc(at_ms),
    }
    return json.dumps(record).encode()


def test_labels_follow_the_latest_word_on_each_transaction() -> None:
    day = 86_400_000
    lines = [
        _line("withdrawn", 1 * day),
        _line("withdrawn", 2 * day, "genuine"),
        _line("reconfirmed", 1 * day),
        _line("reconfirmed", 2 * day, "genuine"),
        _line("reconfirmed", 3 * day),
        _line("tie", 2 * day),
        _line("tie", 2 * day, "genuine"),
        _line("repeated", 1 * day),
        _line("repeated", 4 * day),
    ]

    assert confirmed_frauds(lines, None) == {"reconfirmed", "repeated"}
    assert confirmed_frauds(lines, 2 * day) == {"repeated"}
    assert confirmed_frauds(lines, 1 * day) == {"withdrawn", "reconfirmed", "repeated"}
