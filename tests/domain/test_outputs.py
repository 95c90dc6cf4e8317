"""Scored transactions and alerts, with explanations and idempotent alert ids.

Contract: docs/architecture.md, "Outputs".
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import pytest

from transforms.domain.detector import RuleAssessment
from transforms.domain.events import Transaction
from transforms.domain.outputs import (
    MODEL_EXPLANATION_FIELDS,
    alert_from_scored,
    apply_anomaly_score,
    explain,
    scored_transaction,
)
from transforms.domain.rules import RuleResult

VERSION = "rules-0123456789ab"
EVENT = Transaction(
    transaction_id="tx-42",
    customer_id="cust-7",
    store_id="store-3",
    amount=Decimal("1250.00"),
    event_time_ms=1_790_859_600_000,
    currency="BRL",
    product_id="sku-1",
    payment_method="credit_card",
    latitude=-23.55,
    longitude=-46.63,
    schema_version=2,
)
VELOCITY = RuleResult("FR-002", 0.2, {"window_count": 6, "window_minutes": 10, "max_count": 5})
TRAVEL = RuleResult(
    "FR-003",
    1.0,
    {"distance_km": 2370.4, "elapsed_minutes": 0.0, "speed_kmh": None, "max_speed_kmh": 500.0},
)
QUIET = RuleAssessment((), 0.0)


def score(assessment: RuleAssessment, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"alert_threshold": 0.7, "rules_version": VERSION}
    options.update(kwargs)
    return scored_transaction(EVENT, assessment, **options)


def test_scored_transaction_has_the_event_fields_and_the_scores() -> None:
    record = score(RuleAssessment((VELOCITY,), 0.2))

    assert record == {
        "transaction_id": "tx-42",
        "customer_id": "cust-7",
        "store_id": "store-3",
        "product_id": "sku-1",
        "amount": "1250.00",
        "currency": "BRL",
        "payment_method": "credit_card",
        "latitude": -23.55,
        "longitude": -46.63,
        "event_time": "2026-10-01T13:00:00.000Z",
        "schema_version": 2,
        "fraud_score": 0.2,
        "rule_score": 0.2,
        "ml_score": None,
        "rules_triggered": ["FR-002"],
        "rule_details": {
            "FR-002": {"score": 0.2, "window_count": 6, "window_minutes": 10, "max_count": 5}
        },
        "explanation": record["explanation"],
        "is_alert": False,
        "model_version": None,
        "rules_version": VERSION,
        "ml_features": None,
    }


def test_scored_transaction_without_rules_or_model() -> None:
    record = score(QUIET)

    assert (record["fraud_score"], record["rule_score"], record["ml_score"]) == (0.0, 0.0, None)
    assert record["rules_triggered"] == []
    assert record["rule_details"] == {}
    assert record["is_alert"] is False
    assert record["explanation"] == "no rule fired"


def blend_in(record: dict[str, Any], ml_score: float, alpha: float = 0.3) -> dict[str, Any]:
    return apply_anomaly_score(
        record,
        ml_score,
        model_version="iforest-1",
        alpha=alpha,
        ml_threshold=0.6,
        alert_threshold=0.7,
    )


def test_scores_are_rounded_to_six_decimals() -> None:
    result = RuleResult("FR-001", 0.123456789, {})
    record = score(RuleAssessment((result,), 0.987654321))
    blended = blend_in(record, 0.111111111, alpha=0.5)

    assert record["rule_score"] == record["fraud_score"] == 0.987654
    assert record["rule_details"]["FR-001"]["score"] == 0.123457
    assert blended["ml_score"] == 0.111111
    assert blended["fraud_score"] == 0.549382  # 0.5 * 0.111111 + 0.5 * 0.987654, in floats


@pytest.mark.parametrize(
    ("rule_score", "is_alert"),
    [(0.7, True), (0.69999, False), (0.7000001, True), (1.0, True), (0.0, False)],
)
def test_alert_at_or_above_the_threshold(rule_score: float, is_alert: bool) -> None:
    assert score(RuleAssessment((TRAVEL,), rule_score))["is_alert"] is is_alert


def test_alert_decision_uses_the_emitted_score() -> None:
    # 0.69999999 is written as 0.7, so it must be an alert for anyone reading the record
    record = score(RuleAssessment((TRAVEL,), 0.69999999))

    assert record["fraud_score"] == 0.7
    assert record["is_alert"] is True


def test_alert_threshold_applies_to_the_blended_score() -> None:
    # rules alone would alert (0.8), the blend with a calm model does not: 0.3*0 + 0.7*0.8 = 0.56
    record = score(RuleAssessment((TRAVEL,), 0.8))
    blended = blend_in(record, 0.0)

    assert record["is_alert"] is True
    assert blended["fraud_score"] == 0.56
    assert blended["is_alert"] is False


def test_scored_transaction_is_strict_json() -> None:
    record = score(RuleAssessment((VELOCITY, TRAVEL), 1.0))

    assert json.loads(json.dumps(record, allow_nan=False)) == record


def test_explanation_mentions_every_triggered_rule_and_its_evidence() -> None:
    explanation = score(RuleAssessment((VELOCITY, TRAVEL), 1.0))["explanation"]

    assert explanation.startswith("score 1.00: ")
    assert "FR-002 0.20 (window_count=6" in explanation
    assert "FR-003 1.00 (distance_km=2370.4" in explanation


def test_explanation_mentions_the_model_score() -> None:
    velocity = score(RuleAssessment((VELOCITY,), 0.2))["rule_details"]
    assert explain({}, 0.8, 0.24) == "score 0.24: ML 0.80"
    assert explain(velocity, 0.8, 0.38).endswith("; ML 0.80")


def test_explanation_without_rules_or_model() -> None:
    assert explain({}, None, 0.0) == "no rule fired"


# --- alerts ----------------------------------------------------------------------------------

CONTRACT_ALERT_FIELDS = {
    "alert_id",
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
    "detected_at",
    "model_version",
    "rules_version",
}


def alert(assessment: RuleAssessment, **kwargs: Any) -> dict[str, Any]:
    return alert_from_scored(score(assessment, **kwargs), "2026-10-01T13:00:05+00:00")


def test_alert_carries_the_contract_fields() -> None:
    record = alert(RuleAssessment((TRAVEL,), 0.9))

    # Why the model scored it so: null without a model (transforms/anomaly.py fills them).
    assert set(record) == CONTRACT_ALERT_FIELDS | {"explanation", *MODEL_EXPLANATION_FIELDS}
    assert [record[name] for name in MODEL_EXPLANATION_FIELDS] == [None, None]
    assert record["transaction_id"] == "tx-42"
    assert record["amount"] == "1250.00"
    assert record["event_time"] == "2026-10-01T13:00:00.000Z"
    assert record["fraud_score"] == 0.9
    assert record["rules_triggered"] == ["FR-003"]
    assert record["detected_at"] == "2026-10-01T13:00:05+00:00"
    assert record["rules_version"] == VERSION


def test_alert_id_is_deterministic_for_replays() -> None:
    first = alert(RuleAssessment((TRAVEL,), 0.9))
    replay = alert_from_scored(score(RuleAssessment((TRAVEL,), 0.95)), "2027-01-01T00:00:00Z")

    assert first["alert_id"] == replay["alert_id"]
    assert uuid.UUID(first["alert_id"]).version == 5


def test_alert_id_changes_with_the_rules_version() -> None:
    old = alert(RuleAssessment((TRAVEL,), 0.9))
    new = alert(RuleAssessment((TRAVEL,), 0.9), rules_version="rules-ba9876543210")

    assert old["alert_id"] != new["alert_id"]


def test_alert_id_changes_with_the_transaction() -> None:
    scored = score(RuleAssessment((TRAVEL,), 0.9))
    other = {**scored, "transaction_id": "tx-43"}

    assert alert_from_scored(scored, "t")["alert_id"] != alert_from_scored(other, "t")["alert_id"]


def test_anomaly_score_is_blended_and_fires_fr006_at_its_threshold() -> None:
    record = score(RuleAssessment((VELOCITY,), 0.2))
    blended = apply_anomaly_score(
        record, 0.9, model_version="iforest-x", alpha=0.3, ml_threshold=0.6, alert_threshold=0.7
    )
    assert blended["fraud_score"] == round(0.3 * 0.9 + 0.7 * 0.2, 6)
    assert blended["rules_triggered"] == ["FR-002", "FR-006"]
    assert blended["rule_details"]["FR-006"] == {"score": 0.9, "threshold": 0.6}
    assert blended["model_version"] == "iforest-x"
    assert blended["explanation"].endswith("; ML 0.90")
    assert record["rules_triggered"] == ["FR-002"]  # the input record is not mutated


def test_anomaly_score_below_threshold_blends_without_fr006() -> None:
    record = score(RuleAssessment((), 0.0))
    blended = apply_anomaly_score(
        record, 0.59, model_version="m", alpha=0.3, ml_threshold=0.6, alert_threshold=0.7
    )
    assert blended["rules_triggered"] == []
    assert blended["fraud_score"] == round(0.3 * 0.59, 6)
    assert blended["is_alert"] is False


def test_without_a_model_the_rules_only_verdict_stands() -> None:
    record = score(RuleAssessment((VELOCITY,), 0.2))
    kept = apply_anomaly_score(
        record, None, model_version=None, alpha=0.3, ml_threshold=0.6, alert_threshold=0.7
    )
    assert kept == record
