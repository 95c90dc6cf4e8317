"""The loop both detector paths run: one customer's records, in the order given, on its profile.

``transforms.detect`` (stateful, timer-driven: streaming) and ``transforms.detect_grouped``
(group by customer, sort: bounded runs) differ only in how they bring a customer's events into
event-time order; what happens to each event is this one loop, so their outputs agree record
for record.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from apache_beam.metrics import Metrics

from transforms.coders import Buffered, BufferedEvent
from transforms.counters import CHALLENGER_FAILURES, DLQ_PREFIX, NAMESPACE
from transforms.domain.blacklist_changes import BlacklistChange
from transforms.domain.config import RulesConfig
from transforms.domain.detector import FraudDetector, Judgement
from transforms.domain.dlq import build_dlq_record
from transforms.domain.event_time import business_timezone
from transforms.domain.events import Transaction
from transforms.domain.features import named_features, store_features
from transforms.domain.feedback import Feedback
from transforms.domain.json_fields import ErrorType
from transforms.domain.model_registry import ModelChange
from transforms.domain.outputs import (
    CHALLENGER_FIELD,
    SHADOW_FIELD,
    challenger_verdict,
    rule_details_of,
    scored_transaction,
)
from transforms.domain.rules_registry import RulesChange
from transforms.domain.scoring_registry import ScoringRegistry
from transforms.domain.state import CustomerProfile
from transforms.tags import DLQ_TAG, SCORED_TAG

_LOG = logging.getLogger(__name__)


class CustomerScorer:
    """Built in a DoFn's ``setup``: the detector resolves the time zone once per worker.

    Each event is judged by the rules in effect at its time (``registry``, which the shard's
    step may replace with one that knows more versions), and its record names the registered
    model version in effect then, if any, for the model's step. Every rules version keeps the
    state alike (:data:`transforms.domain.rules_registry.STATE_SHAPING`), so the base's
    detector learns and forgets for all of them."""

    def __init__(
        self, registry: ScoringRegistry, timezone_name: str, pipeline_version: str
    ) -> None:
        self.registry = registry
        self._pipeline_version = pipeline_version
        self._zone = business_timezone(timezone_name)
        self._detector = FraudDetector(registry.base, self._zone)
        self._detectors = {registry.base.rules_version: self._detector}
        self._failed = Metrics.counter(NAMESPACE, DLQ_PREFIX + ErrorType.PROCESSING_ERROR.value)
        self._challenger_failed = Metrics.counter(NAMESPACE, CHALLENGER_FAILURES)

    def _detector_for(self, rules: RulesConfig) -> FraudDetector:
        detector = self._detectors.get(rules.rules_version)
        if detector is None:
            detector = self._detectors[rules.rules_version] = FraudDetector(rules, self._zone)
        return detector

    def score_in_order(
        self, profile: CustomerProfile, records: Iterable[Buffered]
    ) -> Iterator[tuple[str, Transaction, dict[str, Any]]]:
        """``(tag, event, record)`` per event: ``SCORED_TAG`` and the scored record, or
        ``DLQ_TAG`` and a processing-error record. The profile learns each scored event, and
        each feedback record and blacklist change in its place."""
        registry = self.registry
        for buffered in records:
            if isinstance(buffered, Feedback):
                self._detector.learn_feedback(profile, buffered)
                continue
            if isinstance(buffered, BlacklistChange):
                self._detector.learn_change(profile, buffered)
                continue
            if isinstance(buffered, RulesChange | ModelChange):  # told to shards, not customers
                continue
            event, hit, risk = buffered
            try:
                rules = registry.rules_at(event.event_time_ms)
                model = registry.model_at(event.event_time_ms)
                judgement = self._detector_for(rules).judge(profile, event, hit, risk)
                record = scored_transaction(
                    event,
                    judgement.assessment,
                    alert_threshold=rules.alert_threshold,
                    rules_version=rules.rules_version,
                    features={
                        **named_features(judgement.features),
                        **store_features(judgement.store_risk),
                    },
                    blend=rules.blend,
                    model=None if model is None else model.reference(),
                )
                challengers = registry.challengers_at(event.event_time_ms)
                if challengers != (None, None):
                    self._shadow_safely(record, profile, buffered, rules, judgement, challengers)
                # Only a scored event joins the history; a failed one is in the DLQ instead.
                self._detector.learn(profile, event, judgement)
            except Exception as error:  # a bug must cost one event, never the customer's stream
                _LOG.exception("scoring failed for %s", event.transaction_id)
                self._failed.inc()
                yield DLQ_TAG, event, self._processing_error(event, error)
                continue
            yield SCORED_TAG, event, record

    def _shadow_safely(self, record: dict[str, Any], *context: Any) -> None:
        """:meth:`_shadow`, whose failure costs the challenger's verdict on this event, never
        the champion's record or its history (counted as ``challenger_failures``)."""
        try:
            self._shadow(record, *context)
        except Exception:  # a challenger's bug must not change what the champion does
            _LOG.exception("the challenger failed on %s", record["transaction_id"])
            record.pop(CHALLENGER_FIELD, None)
            record.pop(SHADOW_FIELD, None)
            self._challenger_failed.inc()

    def _shadow(
        self,
        record: dict[str, Any],
        profile: CustomerProfile,
        buffered: BufferedEvent,
        rules: RulesConfig,
        judgement: Judgement,
        challengers: tuple[RulesChange | None, ModelChange | None],
    ) -> None:
        """The challengers' verdict on the event, judged on the same history before it learns
        the event: the champion's rules or model where no challenger of that kind is in
        effect. The model's step blends in the model's score."""
        event, hit, risk = buffered
        challenger_rules, challenger_model = challengers
        if challenger_rules is None:
            shadow_rules, details, assessment = rules, None, judgement.assessment
        else:
            shadow_rules = challenger_rules.rules
            judged = self._detector_for(shadow_rules).judge(profile, event, hit, risk)
            assessment, details = judged.assessment, rule_details_of(judged.assessment)
        record[CHALLENGER_FIELD] = challenger_verdict(
            assessment,
            rules_version=shadow_rules.rules_version,
            alert_threshold=shadow_rules.alert_threshold,
        )
        model = None if challenger_model is None else challenger_model.reference()
        record[SHADOW_FIELD] = (shadow_rules.blend, model, details)

    def _processing_error(self, event: Transaction, error: Exception) -> dict[str, Any]:
        return build_dlq_record(
            error_type=ErrorType.PROCESSING_ERROR,
            error_message=f"{type(error).__name__}: {error}",
            stage="detect",
            source=f"transaction:{event.transaction_id}",
            raw_payload=json.dumps(event.to_record()).encode("utf-8"),
            received_at=datetime.now(UTC).isoformat(),
            pipeline_version=self._pipeline_version,
            schema_version=event.schema_version,
        )
