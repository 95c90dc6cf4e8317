"""The fraud decision for one event, given the customer's profile: the pure domain loop.

``FraudDetector.judge`` reads the profile as it was *before* the event and evaluates the rules
and the anomaly model's features; ``learn`` then folds the event into the profile, fraud or
not. The Beam DoFn calls these two, in event-time order per customer, with the scored record
built between them (an event whose record fails is dead-lettered and never learned);
``assess`` is the two in a row, as the training replay uses them. So a pure-Python replay of
the same events gives the same scores as any runner.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import tzinfo

from transforms.domain.blacklist import NO_HIT, BlacklistHit
from transforms.domain.blacklist_changes import BlacklistChange, BlacklistOverride
from transforms.domain.config import RulesConfig
from transforms.domain.event_time import local_hour_of_day
from transforms.domain.events import Transaction
from transforms.domain.features import Features, extract_features
from transforms.domain.feedback import Feedback
from transforms.domain.rules import (
    RuleResult,
    blacklisted,
    compromised_card,
    compromised_store,
    high_value,
    impossible_travel,
    unusual_hour,
    velocity,
)
from transforms.domain.scoring import combine_rule_scores
from transforms.domain.state import CustomerProfile, LastLocation
from transforms.domain.store_risk import NO_STORE_RISK, StoreRisk


@dataclass(frozen=True, slots=True)
class RuleAssessment:
    """The rules' verdict on one event, before any anomaly model is blended in."""

    triggered: tuple[RuleResult, ...]
    rule_score: float


@dataclass(frozen=True, slots=True)
class Judgement:
    assessment: RuleAssessment
    local_hour: float
    # The anomaly model's inputs, from the same history the rules saw (transforms.domain.features).
    features: Features
    # The store's counts just before the event, as the store step sent them.
    store_risk: StoreRisk = NO_STORE_RISK


class FraudDetector:
    def __init__(self, rules: RulesConfig, zone: tzinfo) -> None:
        self.rules = rules
        self.zone = zone

    def assess(
        self,
        profile: CustomerProfile,
        event: Transaction,
        blacklist_hit: BlacklistHit = NO_HIT,
        store_risk: StoreRisk = NO_STORE_RISK,
    ) -> Judgement:
        """Judge the event on the profile before it, then learn it into the profile."""
        judgement = self.judge(profile, event, blacklist_hit, store_risk)
        self.learn(profile, event, judgement)
        return judgement

    def judge(
        self,
        profile: CustomerProfile,
        event: Transaction,
        blacklist_hit: BlacklistHit = NO_HIT,
        store_risk: StoreRisk = NO_STORE_RISK,
    ) -> Judgement:
        """The rules' verdict on the history before the event; the history is not updated.

        History older than the inactivity period is forgotten first. The pipeline's expiry
        timer also deletes it, but only once the watermark passes: deciding here makes a
        backfill (which scores a customer's whole history in one go) and a streaming run agree.
        """
        last = profile.last_event_time_ms
        if last is not None and event.event_time_ms - last > self.rules.inactivity_ms:
            profile.forget()
        if profile.blacklisted is not None:  # a change record overrides the initial list
            blacklist_hit = BlacklistHit(profile.blacklisted, blacklist_hit.store)
        hour = local_hour_of_day(event.event_time_ms, self.zone)
        features = extract_features(
            profile, event, hour, blacklist_hit, self.rules.velocity.window_ms
        )
        assessment = self.evaluate(profile, event, hour, blacklist_hit, store_risk)
        return Judgement(assessment, hour, features, store_risk)

    def learn(self, profile: CustomerProfile, event: Transaction, judgement: Judgement) -> None:
        """Fold the judged event into the history, fraud or not."""
        self.update(profile, event, judgement.local_hour)

    def learn_feedback(self, profile: CustomerProfile, feedback: Feedback) -> None:
        """A verdict on one of this customer's transactions, at its report time: a confirmed
        fraud marks the card compromised (FR-008) until a later genuine verdict on that
        transaction withdraws it (:mod:`transforms.domain.verdicts`). Verdicts older than
        FR-008's period can no longer matter and are dropped."""
        remembered_from = feedback.reported_at_ms - self.rules.compromised_card.active_ms
        profile.verdicts.learn(feedback, remembered_from)
        profile.verdicts.forget_before(remembered_from)

    def learn_change(self, profile: CustomerProfile, change: BlacklistChange) -> None:
        """A blacklist change of this customer, at its effective time."""
        override = BlacklistOverride(profile.blacklisted, profile.blacklisted_since_ms)
        profile.blacklisted, profile.blacklisted_since_ms = change.apply_to(override)

    def evaluate(
        self,
        profile: CustomerProfile,
        event: Transaction,
        hour: float,
        blacklist_hit: BlacklistHit = NO_HIT,
        store_risk: StoreRisk = NO_STORE_RISK,
    ) -> RuleAssessment:
        rules = self.rules
        candidates = (
            high_value(profile, event, rules.high_value),
            velocity(profile, event, rules.velocity),
            impossible_travel(profile, event, rules.impossible_travel),
            unusual_hour(profile, hour, rules.unusual_hour),
            blacklisted(blacklist_hit, rules.blacklist),
            compromised_store(store_risk, rules.compromised_store),
            compromised_card(profile, event, rules.compromised_card),
        )
        triggered = tuple(result for result in candidates if result is not None)
        score = combine_rule_scores((rules.weight(r.rule_id), r.score) for r in triggered)
        return RuleAssessment(triggered, score)

    def update(self, profile: CustomerProfile, event: Transaction, hour: float) -> None:
        now = event.event_time_ms
        profile.amounts.add(float(event.amount))
        profile.hours.add(hour)
        last = profile.last_location
        if (
            event.latitude is not None
            and event.longitude is not None
            and (last is None or now >= last.event_time_ms)
        ):
            profile.last_location = LastLocation(event.latitude, event.longitude, now)
        if profile.last_event_time_ms is None or now > profile.last_event_time_ms:
            profile.last_event_time_ms = now
        window = self.rules.velocity
        bisect.insort(profile.recent_event_times, now)
        profile.prune_velocity_window(profile.recent_event_times[-1], window.window_ms)
        # Counts past twice max_count all score 1.0: older entries cannot change a score.
        overflow = len(profile.recent_event_times) - window.retained_events
        if overflow > 0:
            del profile.recent_event_times[:overflow]
