"""One meaning for confirmed feedback: a verdict is the latest word on its transaction, and every
consumer (the store step's counts, the card's FR-008, training labels) reads it the same way."""

from __future__ import annotations

from itertools import permutations

import pytest

from transforms.domain.feedback import Feedback, FeedbackLabel
from transforms.domain.verdicts import (
    ConfirmedFraud,
    StatusChange,
    Verdicts,
    confirmed_by,
    decode_verdicts,
    encode_verdicts,
)


def report(transaction_id: str, at_ms: int, label: FeedbackLabel = "fraud") -> Feedback:
    return Feedback(transaction_id, "C", "S", label, at_ms)


HISTORY = [
    report("tx-1", 100),
    report("tx-1", 200, "genuine"),  # withdrawn
    report("tx-2", 150),
    report("tx-2", 300),  # repeated: still counts from 150
    report("tx-3", 250),
    report("tx-3", 250, "genuine"),  # a tie: the genuine verdict wins
    report("tx-4", 120, "genuine"),
    report("tx-4", 400),  # confirmed after a genuine verdict
]


@pytest.mark.parametrize("order", list(permutations(range(len(HISTORY))))[::997])
def test_the_latest_word_wins_whatever_the_arrival_order(order: tuple[int, ...]) -> None:
    verdicts = Verdicts()
    for index in order:
        verdicts.learn(HISTORY[index])

    assert verdicts.confirmed_frauds() == {"tx-2", "tx-4"}


def test_each_report_says_how_the_fraud_status_changed() -> None:
    verdicts = Verdicts()

    changes = [verdicts.learn(record) for record in sorted(HISTORY, key=lambda r: r.reported_at_ms)]

    assert [change for change in changes if change is not None] == [
        StatusChange("tx-1", True, 100),
        StatusChange("tx-2", True, 150),
        StatusChange("tx-1", False, 100),
        StatusChange("tx-3", True, 250),
        StatusChange("tx-3", False, 250),
        StatusChange("tx-4", True, 400),
    ]


def test_the_latest_fraud_at_a_time_is_the_one_confirmed_most_recently_before_it() -> None:
    verdicts = Verdicts()
    for record in HISTORY:
        verdicts.learn(record)

    assert verdicts.latest_fraud() == ConfirmedFraud("tx-4", 400)
    assert verdicts.latest_fraud(at_ms=399) == ConfirmedFraud("tx-2", 150)
    assert verdicts.latest_fraud(at_ms=149) is None


def test_labels_are_what_was_known_at_the_time() -> None:
    assert confirmed_by(HISTORY, labels_at_ms=199) == {"tx-1", "tx-2"}
    assert confirmed_by(HISTORY, labels_at_ms=None) == {"tx-2", "tx-4"}


def test_forgetting_drops_only_verdicts_last_told_before_the_time() -> None:
    verdicts = Verdicts()
    for record in HISTORY:
        verdicts.learn(record)

    verdicts.forget_before(250)

    assert set(verdicts.by_transaction) == {"tx-2", "tx-3", "tx-4"}


def test_verdicts_round_trip_through_their_encoding() -> None:
    verdicts = Verdicts()
    for record in [*HISTORY, report("tx-\ud800", 7)]:
        verdicts.learn(record)
    encoded = b"xx" + encode_verdicts(verdicts)

    decoded, end = decode_verdicts(encoded, offset=2)

    assert (decoded, end) == (verdicts, len(encoded))
