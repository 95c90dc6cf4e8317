"""Scored transactions and alerts (docs/architecture.md, "Outputs"), with their explanations.

``alert_id`` is a UUID derived from the transaction id and the rules version, so replaying
the same input under the same rules produces the same alert ids and sinks stay idempotent.
"""

from __future__ import annotations

import uuid
from typing import Any

from transforms.domain.config import ML_RULE_ID
from transforms.domain.detector import RuleAssessment
from transforms.domain.events import Transaction
from transforms.domain.scoring import blend

# The scoring version's blend settings (RulesConfig.blend), carried from the customer step to
# the model's step (transforms.anomaly) on each record, never output: a version registered
# while the job runs is known to the customer step only.
BLEND_FIELD = "_blend"
# Likewise the registered model version in effect at the event's time, as (model_version,
# location, sha256): absent while the job's own model scores (transforms.domain.model_registry).
MODEL_FIELD = "_model"
# A challenger's verdict, in shadow (transforms.domain.scoring_registry): only on the records
# of events a challenger was in effect for.
CHALLENGER_FIELD = "challenger"
# What the model's step needs for it: the challenger's blend settings, its model version's
# reference (null: the champion's model) and its rule details (null: the champion's).
SHADOW_FIELD = "_shadow"
# What the customer step tells the model's step, never output.
_INTERNAL_FIELDS = (BLEND_FIELD, MODEL_FIELD, SHADOW_FIELD)

_ALERT_NAMESPACE = uuid.UUID("6f1c3a52-8d1e-4f3e-9a57-2b1f0c9e7d41")
SCORE_DECIMALS = 6


def explain(
    rule_details: dict[str, dict[str, Any]], ml_score: float | None, fraud_score: float
) -> str:
    """One human-readable line: which rules fired and why, e.g. for an alert queue."""
    rules = {rule_id: d for rule_id, d in rule_details.items() if rule_id != ML_RULE_ID}
    if not rules and ml_score is None:
        return "no rule fired"
    parts = [
        f"{rule_id} {d['score']:.2f} ("
        + ", ".join(f"{k}={v}" for k, v in d.items() if k != "score")
        + ")"
        for rule_id, d in rules.items()
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
    features: dict[str, float] | None = None,
    blend: tuple[float, float, float, float] | None = None,
    model: tuple[str, str, str] | None = None,
) -> dict[str, Any]:
    """The record of one event as the rules scored it; :func:`apply_anomaly_score` then adds
    the model's verdict. ``features`` (the anomaly model's inputs) are kept in the output as
    ``ml_features``: they explain an ML score and feed retraining."""
    rule_score = round(assessment.rule_score, SCORE_DECIMALS)
    details = rule_details_of(assessment)
    record = event.to_record()
    record.update(
        {
            "fraud_score": rule_score,
            "rule_score": rule_score,
            "ml_score": None,
            "rules_triggered": [r.rule_id for r in assessment.triggered],
            "rule_details": details,
            "explanation": explain(details, None, rule_score),
            "is_alert": rule_score >= alert_threshold,
            "model_version": None,
            "rules_version": rules_version,
            "ml_features": features,
        }
    )
    if blend is not None:
        record[BLEND_FIELD] = blend
    if model is not None:
        record[MODEL_FIELD] = model
    return record


def challenger_verdict(
    assessment: RuleAssessment, *, rules_version: str, alert_threshold: float
) -> dict[str, Any]:
    """What a challenger's rules make of an event, before its model's score is blended in
    (:func:`apply_challenger_score`). Never an alert: recorded beside the champion's."""
    rule_score = round(assessment.rule_score, SCORE_DECIMALS)
    return {
        "rules_version": rules_version,
        "model_version": None,
        "rule_score": rule_score,
        "ml_score": None,
        "fraud_score": rule_score,
        "rules_triggered": [r.rule_id for r in assessment.triggered],
        "is_alert": rule_score >= alert_threshold,
    }


def rule_details_of(assessment: RuleAssessment) -> dict[str, dict[str, Any]]:
    return {
        r.rule_id: {"score": round(r.score, SCORE_DECIMALS), **r.evidence}
        for r in assessment.triggered
    }


def apply_challenger_score(
    challenger: dict[str, Any],
    ml_score: float | None,
    *,
    model_version: str | None,
    alpha: float,
    ml_threshold: float,
    alert_threshold: float,
) -> dict[str, Any]:
    """The challenger's verdict with its model's score blended in, as
    :func:`apply_anomaly_score` blends the champion's."""
    if ml_score is None:
        return {**challenger, "model_version": model_version}
    ml_score = round(ml_score, SCORE_DECIMALS)
    triggered = [rule_id for rule_id in challenger["rules_triggered"] if rule_id != ML_RULE_ID]
    if ml_score >= ml_threshold:
        triggered.append(ML_RULE_ID)
    fraud_score = round(blend(challenger["rule_score"], ml_score, alpha), SCORE_DECIMALS)
    return {
        **challenger,
        "model_version": model_version,
        "ml_score": ml_score,
        "fraud_score": fraud_score,
        "rules_triggered": triggered,
        "is_alert": fraud_score >= alert_threshold,
    }


def apply_anomaly_score(
    record: dict[str, Any],
    ml_score: float | None,
    *,
    model_version: str | None,
    alpha: float,
    ml_threshold: float,
    alert_threshold: float,
) -> dict[str, Any]:
    """The scored record with the anomaly model's verdict (FR-006) blended in.

    ``fraud_score = alpha * ml_score + (1 - alpha) * rule_score``; FR-006 is listed as
    triggered when the calibrated model score reaches ``ml_threshold``. Without a score
    (no model), the record keeps its rules-only verdict.
    """
    if ml_score is None:
        kept = {**record, "ml_score": None, "model_version": model_version}
        for internal in _INTERNAL_FIELDS:
            kept.pop(internal, None)
        return kept
    ml_score = round(ml_score, SCORE_DECIMALS)
    triggered = [rule_id for rule_id in record["rules_triggered"] if rule_id != ML_RULE_ID]
    details = {k: v for k, v in record["rule_details"].items() if k != ML_RULE_ID}
    if ml_score >= ml_threshold:
        triggered.append(ML_RULE_ID)
        details[ML_RULE_ID] = {"score": ml_score, "threshold": ml_threshold}
    fraud_score = round(blend(record["rule_score"], ml_score, alpha), SCORE_DECIMALS)
    blended = {
        **record,
        "fraud_score": fraud_score,
        "ml_score": ml_score,
        "rules_triggered": triggered,
        "rule_details": details,
        "explanation": explain(details, ml_score, fraud_score),
        "is_alert": fraud_score >= alert_threshold,
        "model_version": model_version,
    }
    for internal in _INTERNAL_FIELDS:
        blended.pop(internal, None)
    return blended


ALERT_FIELDS = (
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


# Why the model scored the alert so (transforms.anomaly, ml.reasons): on alerts scored by a
# model, null otherwise.
MODEL_EXPLANATION_FIELDS = ("model_inputs", "model_reasons")


def alert_from_scored(scored: dict[str, Any], detected_at: str) -> dict[str, Any]:
    alert_key = f"{scored['transaction_id']}|{scored['rules_version']}"
    alert: dict[str, Any] = {"alert_id": str(uuid.uuid5(_ALERT_NAMESPACE, alert_key))}
    alert.update({name: scored[name] for name in ALERT_FIELDS})
    alert.update({name: scored.get(name) for name in MODEL_EXPLANATION_FIELDS})
    alert["detected_at"] = detected_at
    return alert
