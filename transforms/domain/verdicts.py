"""What the feedback says of each transaction: one meaning for every consumer.

A verdict (a chargeback, an analyst's call) is the latest word on its transaction: a later
report replaces an earlier one, whatever the order they arrive in, and a "genuine" verdict
withdraws a fraud confirmed before it (the rule and its tie at one instant:
:mod:`transforms.domain.precedence`).
The store step (FR-007's counts), the customer profile (FR-008) and the supervised model's
training labels all keep a :class:`Verdicts` ledger and read it, so they cannot disagree.

A transaction counts as fraud from the report that made it fraud (``since_ms``): a repeated
fraud report changes nothing, a withdrawal ends it, a new fraud report after a withdrawal
starts it again.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import NamedTuple

from transforms.domain.feedback import Feedback
from transforms.domain.precedence import verdict_precedence


@dataclass(frozen=True, slots=True)
class Verdict:
    is_fraud: bool
    # The latest word's report time, and when the transaction took its current status.
    reported_at_ms: int
    since_ms: int

    @property
    def precedence(self) -> tuple[int, int]:
        return verdict_precedence(self.reported_at_ms, self.is_fraud)


class StatusChange(NamedTuple):
    """A transaction became fraud (``is_fraud``) or stopped being one, counted from
    ``since_ms``: the report that made it fraud."""

    transaction_id: str
    is_fraud: bool
    since_ms: int


class ConfirmedFraud(NamedTuple):
    transaction_id: str
    since_ms: int


@dataclass(slots=True)
class Verdicts:
    """The latest verdict per transaction id."""

    by_transaction: dict[str, Verdict] = field(default_factory=dict)

    def learn(
        self, feedback: Feedback, remembered_from_ms: int | None = None
    ) -> StatusChange | None:
        """Apply one report; the change of fraud status it makes, if any.

        ``remembered_from_ms``: a verdict last told before it counts as never told, whether
        :meth:`forget_before` has dropped it yet or not. Consumers forget at different moments
        on different paths (once per history, once per flush, at expiry); this keeps what they
        forget from changing any result, as long as they forget only what every later report
        would count as never told.
        """
        transaction_id = feedback.transaction_id
        current = self.by_transaction.get(transaction_id)
        if (
            current is not None
            and remembered_from_ms is not None
            and current.reported_at_ms < remembered_from_ms
        ):
            current = None
        told = verdict_precedence(feedback.reported_at_ms, feedback.is_fraud)
        if current is not None and told <= current.precedence:
            return None  # an older (or the same) word
        if current is not None and current.is_fraud == feedback.is_fraud:
            self.by_transaction[transaction_id] = Verdict(
                current.is_fraud, feedback.reported_at_ms, current.since_ms
            )
            return None
        self.by_transaction[transaction_id] = Verdict(
            feedback.is_fraud, feedback.reported_at_ms, feedback.reported_at_ms
        )
        if feedback.is_fraud:
            return StatusChange(transaction_id, True, feedback.reported_at_ms)
        if current is not None:  # a fraud withdrawn
            return StatusChange(transaction_id, False, current.since_ms)
        return None

    def confirmed_frauds(self) -> set[str]:
        return {tid for tid, verdict in self.by_transaction.items() if verdict.is_fraud}

    def latest_fraud(self, at_ms: int | None = None) -> ConfirmedFraud | None:
        """The fraud confirmed most recently (at or before ``at_ms``, if given)."""
        latest: ConfirmedFraud | None = None
        for transaction_id, verdict in self.by_transaction.items():
            if not verdict.is_fraud or (at_ms is not None and verdict.since_ms > at_ms):
                continue
            candidate = ConfirmedFraud(transaction_id, verdict.since_ms)
            if latest is None or candidate[::-1] > latest[::-1]:
                latest = candidate
        return latest

    def last_told_ms(self) -> int | None:
        """The newest report time of any verdict kept."""
        return max((v.reported_at_ms for v in self.by_transaction.values()), default=None)

    def forget_before(self, before_ms: int) -> None:
        """Drop the verdicts last told before ``before_ms``: past every period that reads
        them, and older than anything that could still arrive on time."""
        stale = [t for t, v in self.by_transaction.items() if v.reported_at_ms < before_ms]
        for transaction_id in stale:
            del self.by_transaction[transaction_id]

    def __len__(self) -> int:
        return len(self.by_transaction)


def confirmed_by(reports: list[Feedback], labels_at_ms: int | None = None) -> set[str]:
    """The transactions the reports confirm as fraud by ``labels_at_ms`` (None: all of them):
    what a team knew at that moment."""
    verdicts = Verdicts()
    for report in reports:
        if labels_at_ms is None or report.reported_at_ms <= labels_at_ms:
            verdicts.learn(report)
    return verdicts.confirmed_frauds()


# Encoding, shared by the customer profile and the store activity: a count, then per verdict
# its flag, report time, since time and UTF-8 id, in id order (deterministic bytes).
_COUNT = struct.Struct("<I")
_ENTRY = struct.Struct("<B q q H")


def encode_verdicts(verdicts: Verdicts) -> bytes:
    parts = [_COUNT.pack(len(verdicts.by_transaction))]
    for transaction_id in sorted(verdicts.by_transaction):
        verdict = verdicts.by_transaction[transaction_id]
        identifier = transaction_id.encode("utf-8", "surrogatepass")
        parts += (
            _ENTRY.pack(
                int(verdict.is_fraud), verdict.reported_at_ms, verdict.since_ms, len(identifier)
            ),
            identifier,
        )
    return b"".join(parts)


def decode_verdicts(data: bytes, offset: int = 0) -> tuple[Verdicts, int]:
    """The verdicts encoded at ``offset`` and the offset after them."""
    (count,) = _COUNT.unpack_from(data, offset)
    offset += _COUNT.size
    verdicts = Verdicts()
    for _ in range(count):
        is_fraud, reported_at, since, length = _ENTRY.unpack_from(data, offset)
        offset += _ENTRY.size
        identifier = data[offset : offset + length].decode("utf-8", "surrogatepass")
        offset += length
        verdicts.by_transaction[identifier] = Verdict(bool(is_fraud), reported_at, since)
    return verdicts, offset
