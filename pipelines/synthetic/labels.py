"""Ground truth: the fraud patterns the generator injects, and the label of each valid event."""

from __future__ import annotations

from typing import Final, Literal, TypedDict

FraudPattern = Literal[
    "high_value",
    "velocity_burst",
    "impossible_travel",
    "unusual_hour",
    "blacklist",
    "compromised_store",
    "leaked_card",
]

# Each shaped after one rule; the handbook world adds the patterns no single rule names.
RULE_SHAPED_PATTERNS: Final[tuple[FraudPattern, ...]] = (
    "high_value",
    "velocity_burst",
    "impossible_travel",
    "unusual_hour",
    "blacklist",
)
HANDBOOK_PATTERNS: Final[tuple[FraudPattern, ...]] = ("compromised_store", "leaked_card")
FRAUD_PATTERNS: Final[tuple[FraudPattern, ...]] = RULE_SHAPED_PATTERNS + HANDBOOK_PATTERNS


class Label(TypedDict):
    """Ground truth of one valid event (a line of ``labels.jsonl``)."""

    transaction_id: str
    is_fraud: bool
    pattern: FraudPattern | None
