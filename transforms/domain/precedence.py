"""Which word wins: the one ordering rule for everything the pipeline is told.

Feedback and blacklist changes are records told at a time (``reported_at``, ``effective_at``).
The later word wins over an earlier one, whatever the order the two arrive in, on every path
(grouped, stateful, across bundles, late) and in training labels. At one instant:

* a genuine verdict wins over a fraud verdict on the same transaction (an analyst's
  withdrawal is the more deliberate word);
* an add wins over a remove of the same customer or store (the cautious choice).

Records of one instant are handled controls first, then the events (by transaction id): what
is told at an instant applies to the events of that instant. Because each step keeps only the
winning word per transaction or id, the order among the controls of one instant does not
change any result.
"""

from __future__ import annotations


def verdict_precedence(reported_at_ms: int, is_fraud: bool) -> tuple[int, int]:
    return reported_at_ms, 0 if is_fraud else 1


def change_precedence(effective_at_ms: int, listed: bool) -> tuple[int, int]:
    return effective_at_ms, 1 if listed else 0


CONTROL, EVENT = 0, 1
"""The rank of a record at its instant: controls before events."""
