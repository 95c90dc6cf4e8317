"""FraudDetector.assess (judge, then learn): rules read the profile before the event, then the
event updates it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from transforms.domain.blacklist import BlacklistHit
from transforms.domain.config import default_rules, rules_from_text
from transforms.domain.detector import FraudDetector, RuleAssessment
from transforms.domain.event_time import business_timezone
from transforms.domain.events import Transaction
from transforms.domain.features import store_features
from transforms.domain.feedback import Feedback
from transforms.domain.scoring import combine_rule_scores
from transforms.domain.state import CustomerProfile, LastLocation, encode_profile
from transforms.domain.store_risk import StoreRisk
from transforms.domain.verdicts import ConfirmedFraud

ZONE = business_timezone("America/Sao_Paulo")
RULES = default_rules()
DAY_1_10H = 1_790_859_600_000  # 2026-10-01T10:00 in Sao Paulo (13:00Z)
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def detector(override: str | None = None) -> FraudDetector:
    return FraudDetector(rules_from_text(override) if override else RULES, ZONE)


def transaction(
    number: int,
    at: int,
    amount: str = "100.00",
    latitude: float | None = None,
    longitude: float | None = None,
) -> Transaction:
    return Transaction(
        transaction_id=f"tx-{number}",
        customer_id="cust-1",
        store_id="store-1",
        amount=Decimal(amount),
        event_time_ms=at,
        latitude=latitude,
        longitude=longitude,
    )


def daily_history(profile: CustomerProfile, days: int = 5, amount: str = "100.00") -> None:
    """One ordinary purchase a day at 10:00 local, from five days before DAY_1_10H."""
    fraud_detector = detector()
    for day in range(days):
        assessment = fraud_detector.assess(
            profile, transaction(day, DAY_1_10H - (days - day) * DAY, amount)
        ).assessment
        assert assessment.triggered == ()


def rule_ids(assessment: RuleAssessment) -> list[str]:
    return [result.rule_id for result in assessment.triggered]


def test_first_event_of_a_customer_never_fires_high_value() -> None:
    profile = CustomerProfile()

    assessment = detector().assess(profile, transaction(1, DAY_1_10H, "9999999999.99")).assessment

    assert assessment.triggered == ()
    assert assessment.rule_score == 0.0


def test_rules_read_the_profile_before_the_event() -> None:
    profile = CustomerProfile()
    daily_history(profile)

    assessment = detector().assess(profile, transaction(9, DAY_1_10H, "375.00")).assessment

    # against the prior mean of 100: ratio 1.25, score 0.75. Had the event been folded in
    # first, the mean would be 145.83 and the ratio 0.86: no alert at all.
    (result,) = assessment.triggered
    assert result.rule_id == "FR-001"
    assert result.score == 0.75
    assert result.evidence["customer_mean"] == 100.0
    assert assessment.rule_score == pytest.approx(0.9 * 0.75, abs=1e-12)


def test_event_updates_the_profile_even_when_it_is_fraud() -> None:
    profile = CustomerProfile()
    daily_history(profile)

    assessment = detector().assess(profile, transaction(9, DAY_1_10H, "375.00")).assessment

    assert assessment.triggered
    assert profile.amounts.count == 6
    assert profile.amounts.mean == pytest.approx((5 * 100.0 + 375.0) / 6, rel=1e-12)
    assert profile.hours.count == 6
    assert profile.last_event_time_ms == DAY_1_10H


def test_blacklisted_event_is_decisive_and_still_updates_the_profile() -> None:
    profile = CustomerProfile()

    assessment = (
        detector()
        .assess(profile, transaction(1, DAY_1_10H), BlacklistHit(customer=True))
        .assessment
    )

    assert rule_ids(assessment) == ["FR-005"]
    assert assessment.rule_score == 1.0
    assert profile.amounts.count == 1
    assert profile.recent_event_times == [DAY_1_10H]


def test_hours_are_recorded_in_the_business_time_zone() -> None:
    profile = CustomerProfile()

    detector().assess(profile, transaction(1, DAY_1_10H))

    assert profile.hours.mean_hour == pytest.approx(10.0, abs=1e-9)


def test_last_location_updates_only_when_the_event_has_coordinates() -> None:
    profile = CustomerProfile()
    fraud_detector = detector()

    fraud_detector.assess(profile, transaction(1, DAY_1_10H, latitude=-23.55, longitude=-46.63))
    fraud_detector.assess(profile, transaction(2, DAY_1_10H + HOUR))

    assert profile.last_location == LastLocation(-23.55, -46.63, DAY_1_10H)
    assert profile.last_event_time_ms == DAY_1_10H + HOUR


def test_first_located_event_sets_the_last_location() -> None:
    profile = CustomerProfile()
    fraud_detector = detector()

    fraud_detector.assess(profile, transaction(1, DAY_1_10H))
    assert profile.last_location is None
    fraud_detector.assess(profile, transaction(2, DAY_1_10H + HOUR, latitude=1.0, longitude=2.0))

    assert profile.last_location == LastLocation(1.0, 2.0, DAY_1_10H + HOUR)


def test_late_event_keeps_the_last_location_at_the_newest_event_time() -> None:
    profile = CustomerProfile()
    fraud_detector = detector()
    fraud_detector.assess(profile, transaction(1, DAY_1_10H, latitude=-23.55, longitude=-46.63))
    fraud_detector.assess(
        profile, transaction(2, DAY_1_10H + 5 * HOUR, latitude=-22.91, longitude=-43.17)
    )

    fraud_detector.assess(
        profile, transaction(3, DAY_1_10H + 2 * HOUR, latitude=-15.79, longitude=-47.88)
    )

    assert profile.last_location == LastLocation(-22.91, -43.17, DAY_1_10H + 5 * HOUR)
    assert profile.last_event_time_ms == DAY_1_10H + 5 * HOUR
    assert profile.recent_event_times == [DAY_1_10H + 5 * HOUR]


def test_late_event_inside_the_window_is_inserted_in_time_order() -> None:
    profile = CustomerProfile()
    fraud_detector = detector()
    for number, offset in enumerate((0, 4 * MINUTE, 2 * MINUTE)):
        fraud_detector.assess(profile, transaction(number, DAY_1_10H + offset))

    assert profile.recent_event_times == [DAY_1_10H, DAY_1_10H + 2 * MINUTE, DAY_1_10H + 4 * MINUTE]


def test_velocity_fires_on_the_sixth_event_in_ten_minutes() -> None:
    profile = CustomerProfile()
    # minutes apart, the hours have a tiny spread that FR-004 would judge: isolate FR-002
    fraud_detector = detector("rules: {FR-004: {enabled: false}}")
    assessments = [
        fraud_detector.assess(profile, transaction(n, DAY_1_10H + n * MINUTE)).assessment
        for n in range(6)
    ]

    assert [rule_ids(a) for a in assessments[:5]] == [[]] * 5
    (result,) = assessments[5].triggered
    assert result.rule_id == "FR-002"
    assert result.score == 0.2
    assert result.evidence["window_count"] == 6


def test_velocity_window_forgets_events_that_left_the_window() -> None:
    profile = CustomerProfile()
    fraud_detector = detector()

    fraud_detector.assess(profile, transaction(1, DAY_1_10H))
    fraud_detector.assess(profile, transaction(2, DAY_1_10H + 10 * MINUTE))

    assert profile.recent_event_times == [DAY_1_10H + 10 * MINUTE]


def test_velocity_window_is_capped_yet_the_score_saturates_at_one() -> None:
    profile = CustomerProfile()
    fraud_detector = detector()
    times = [DAY_1_10H + n * 1000 for n in range(30)]

    assessments = [
        fraud_detector.assess(profile, transaction(n, t)).assessment for n, t in enumerate(times)
    ]

    assert len(profile.recent_event_times) == 2 * RULES.velocity.max_count == 10
    assert profile.recent_event_times == times[-10:]
    velocity_scores = [r.score for a in assessments for r in a.triggered if r.rule_id == "FR-002"]
    assert velocity_scores[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert velocity_scores[4:] == [1.0] * 21
    assert assessments[-1].rule_score == 1.0


def test_impossible_travel_between_consecutive_events() -> None:
    profile = CustomerProfile()
    fraud_detector = detector()
    fraud_detector.assess(profile, transaction(1, DAY_1_10H, latitude=-23.55, longitude=-46.63))

    # Sao Paulo to Fortaleza (about 2370 km) in 30 minutes
    assessment = fraud_detector.assess(
        profile, transaction(2, DAY_1_10H + 30 * MINUTE, latitude=-3.72, longitude=-38.54)
    ).assessment

    (result,) = assessment.triggered
    assert result.rule_id == "FR-003"
    assert result.score == 1.0
    assert assessment.rule_score == pytest.approx(0.9, abs=1e-12)


def test_unusual_hour_after_a_week_of_morning_purchases() -> None:
    profile = CustomerProfile()
    fraud_detector = detector()
    for day, minute in enumerate((0, 30, 15, 45, 20, 10, 40)):
        fraud_detector.assess(
            profile, transaction(day, DAY_1_10H - (7 - day) * DAY + minute * MINUTE)
        )

    at_3am = fraud_detector.assess(profile, transaction(10, DAY_1_10H - 7 * HOUR)).assessment

    assert rule_ids(at_3am) == ["FR-004"]


def test_rule_score_combines_the_triggered_rules_with_their_weights() -> None:
    profile = CustomerProfile()
    daily_history(profile)

    assessment = (
        detector()
        .assess(profile, transaction(9, DAY_1_10H, "375.00"), BlacklistHit(store=True))
        .assessment
    )

    assert rule_ids(assessment) == ["FR-001", "FR-005"]
    expected = combine_rule_scores([(0.9, 0.75), (1.0, 1.0)])
    assert assessment.rule_score == expected == 1.0


def test_disabled_rule_is_not_evaluated_by_the_detector() -> None:
    profile = CustomerProfile()
    fraud_detector = detector("rules: {FR-005: {enabled: false}}")

    assessment = fraud_detector.assess(
        profile, transaction(1, DAY_1_10H), BlacklistHit(True)
    ).assessment

    assert assessment.triggered == ()
    assert assessment.rule_score == 0.0


def test_replaying_the_same_events_gives_identical_scores_and_state() -> None:
    events = [
        transaction(
            n,
            DAY_1_10H + n * 7 * MINUTE,
            f"{50 + 40 * n}.00",
            latitude=-23.5 + 3 * n if n % 3 else None,
            longitude=-46.6 if n % 3 else None,
        )
        for n in range(12)
    ]

    def replay() -> tuple[list[RuleAssessment], bytes]:
        profile = CustomerProfile()
        fraud_detector = detector()
        assessments = [fraud_detector.assess(profile, event).assessment for event in events]
        return assessments, encode_profile(profile)

    first, second = replay(), replay()

    assert any(assessment.triggered for assessment in first[0])
    assert first == second


# --- what the detector is told: store counts, confirmed outcomes, blacklist changes ---------


def fraud_report(transaction_id: str, at: int, label: str = "fraud") -> Feedback:
    return Feedback(transaction_id, "cust-1", "store-1", label, at)  # type: ignore[arg-type]


def test_a_compromised_store_fires_fr007_and_its_counts_become_features() -> None:
    risk = StoreRisk((3, 40, 90), (2, 12, 12))

    judgement = detector().judge(CustomerProfile(), transaction(1, DAY_1_10H), store_risk=risk)

    assert [r.rule_id for r in judgement.assessment.triggered] == ["FR-007"]
    assert judgement.assessment.rule_score == pytest.approx(0.9 * 0.75)
    assert store_features(judgement.store_risk)["store_fraud_rate_7d"] == 0.3
    assert store_features(judgement.store_risk)["store_transactions_30d"] == 90.0


def test_a_confirmed_fraud_marks_the_card_for_later_transactions_only() -> None:
    fraud_detector, profile = detector(), CustomerProfile()
    before = fraud_detector.judge(profile, transaction(1, DAY_1_10H - HOUR))
    fraud_detector.learn_feedback(profile, fraud_report("tx-0", DAY_1_10H - 2 * DAY))

    after = fraud_detector.judge(profile, transaction(2, DAY_1_10H))

    assert before.assessment.triggered == ()
    (fired,) = after.assessment.triggered
    assert fired.rule_id == "FR-008"
    assert fired.evidence["confirmed_transaction_id"] == "tx-0"


def test_the_newest_confirmed_fraud_is_the_evidence_and_a_genuine_verdict_withdraws_it() -> None:
    fraud_detector, profile = detector(), CustomerProfile()
    fraud_detector.learn_feedback(profile, fraud_report("tx-new", DAY_1_10H - DAY))
    fraud_detector.learn_feedback(profile, fraud_report("tx-old", DAY_1_10H - 5 * DAY))
    assert profile.verdicts.latest_fraud() == ConfirmedFraud("tx-new", DAY_1_10H - DAY)

    fraud_detector.learn_feedback(profile, fraud_report("tx-other", DAY_1_10H, "genuine"))
    assert profile.verdicts.latest_fraud() == ConfirmedFraud("tx-new", DAY_1_10H - DAY)
    fraud_detector.learn_feedback(profile, fraud_report("tx-new", DAY_1_10H, "genuine"))
    fraud_detector.learn_feedback(profile, fraud_report("tx-old", DAY_1_10H, "genuine"))
    assert profile.verdicts.latest_fraud() is None


def test_withdrawing_the_latest_compromise_leaves_an_earlier_one_still_active() -> None:
    fraud_detector, profile = detector(), CustomerProfile()
    fraud_detector.learn_feedback(profile, fraud_report("tx-old", DAY_1_10H - 5 * DAY))
    fraud_detector.learn_feedback(profile, fraud_report("tx-new", DAY_1_10H - DAY))
    fraud_detector.learn_feedback(profile, fraud_report("tx-new", DAY_1_10H - HOUR, "genuine"))

    judged = fraud_detector.judge(profile, transaction(1, DAY_1_10H))

    (fired,) = judged.assessment.triggered
    assert fired.rule_id == "FR-008"
    assert fired.evidence["confirmed_transaction_id"] == "tx-old"


def test_a_blacklist_change_on_the_profile_overrides_the_initial_list() -> None:
    removed = CustomerProfile(blacklisted=False)
    added = CustomerProfile(blacklisted=True)
    listed = BlacklistHit(customer=True)

    assert detector().judge(removed, transaction(1, DAY_1_10H), listed).assessment.triggered == ()
    (fired,) = detector().judge(added, transaction(2, DAY_1_10H)).assessment.triggered
    assert fired.rule_id == "FR-005"
    assert fired.evidence["customer_blacklisted"] is True


@pytest.mark.parametrize("unrelated_verdict", [False, True])
def test_a_fraud_reported_again_after_fr008s_period_counts_from_the_repeat(
    unrelated_verdict: bool,
) -> None:
    # Whether the first report is still kept (nothing else told) or already forgotten (an
    # unrelated verdict made the customer drop it) must not change the judgement.
    fraud_detector, profile = detector(), CustomerProfile()
    fraud_detector.learn_feedback(profile, fraud_report("tx-a", DAY_1_10H))
    if unrelated_verdict:
        fraud_detector.learn_feedback(
            profile, fraud_report("tx-b", DAY_1_10H + 31 * DAY, "genuine")
        )
    fraud_detector.learn_feedback(profile, fraud_report("tx-a", DAY_1_10H + 35 * DAY))

    judged = fraud_detector.judge(profile, transaction(1, DAY_1_10H + 36 * DAY))

    assert [r.rule_id for r in judged.assessment.triggered] == ["FR-008"]
