"""Scored transactions and alerts (SPEC §4), with their explanations.

``alert_id`` is a UUID derived from the transaction id and the rules version, so replaying
the same input under the same rules produces the same alert ids and sinks stay idempotent.
"""

from __future__ import annotations

import uuid
from typing import Any

from transforms.domain.detector import RuleAssessment
from transforms.domain.events import Transaction
from transforms.domain.scoring import blend

_ALERT_NAMESPACE = uuid.UUID("6f1c3a52-8d1e-4f3e-9a57-2b1f0c9e7d41")
SCORE_DECIMALS = 6


def explain(assessment: RuleAssessment, ml_score: float | None, fraud_score: float) -> str:
    """One human-readable line: which rules fired and why, e.g. for an alert queue."""
    if not assessment.triggered and ml_score is None:
        return "no rule fired"
    parts = [
        f"{r.rule_id} {r.score:.2f} ({', '.join(f'{k}={v}' for k, v in r.evidence.items())})"
        for r in assessment.triggered
    ]
    if ml_score is not None:
        parts.append(f"ML {ml_score:.2f}")
    return f"score {fraud_score:.2f}: " + "; ".join(parts or ["no rule fired"])


def scored_transaction(
    event: Transaction,
    assessment: RuleAssessment,
    *,
    alert_threshold: float,
    rules_version: str,
    ml_score: float | None = None,
    ml_alpha: float = 0.0,
    model_version: str | None = None,
) -> dict[str, Any]:
    fraud_score = round(blend(assessment.rule_score, ml_score, ml_alpha), SCORE_DECIMALS)
    record = event.to_record()
    record.update(
        {
            "fraud_score": fraud_score,
            "rule_score": round(assessment.rule_score, SCORE_DECIMALS),
            "ml_score": None if ml_score is None else round(ml_score, SCORE_DECIMALS),
            "rules_triggered": [r.rule_id for r in assessment.triggered],
            "rule_details": {
                r.rule_id: {"score": round(r.score, SCORE_DECIMALS), **r.evidence}
                for r in assessment.triggered
            },
            "explanation": explain(assessment, ml_score, fraud_score),
            "is_alert": fraud_score >= alert_threshold,
            "model_version": model_version,
            "rules_version": rules_version,
        }
    )
    return record


_ALERT_FIELDS = (
    "transaction_id",
    "customer_id",
    "store_id",
    "amount",
    "currency",
    "event_time",
    "fraud_score",
    "rule_score",
    "ml_score",
    "rules_triggered",
    "rule_details",
    "explanation",
    "model_version",
    "rules_version",
)


def alert_from_scored(scored: dict[str, Any], detected_at: str) -> dict[str, Any]:
    alert_key = f"{scored['transaction_id']}|{scored['rules_version']}"
    alert = {"alert_id": str(uuid.uuid5(_ALERT_NAMESPACE, alert_key))}
    alert.update({name: scored[name] for name in _ALERT_FIELDS})
    alert["detected_at"] = detected_at
    return alert
