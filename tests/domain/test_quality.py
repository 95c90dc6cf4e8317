"""Detection quality against labels: precision, recall, F1 and average precision."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.domain.quality import QualityTally, average_precision

Label = dict[str, Any] | None
Event = tuple[float, bool, Label]

FRAUD: Label = {"is_fraud": True, "pattern": "velocity"}
LEGIT: Label = {"is_fraud": False}

# score, is_alert, label: 3 true positives, 1 false positive, 2 false negatives, 2 true
# negatives and one unlabelled event
EXAMPLE: list[Event] = [
    (0.95, True, {"is_fraud": True, "pattern": "velocity"}),
    (0.90, True, LEGIT),
    (0.80, True, {"is_fraud": True, "pattern": "impossible_travel"}),
    (0.70, True, {"is_fraud": True, "pattern": "velocity"}),
    (0.60, False, {"is_fraud": True}),
    (0.40, False, LEGIT),
    (0.30, False, {"is_fraud": True, "pattern": "velocity"}),
    (0.10, False, LEGIT),
    (0.99, True, None),
]


def tally_of(events: list[Event]) -> QualityTally:
    tally = QualityTally()
    for score, is_alert, label in events:
        tally.add(score, is_alert, label)
    return tally


def test_report_on_a_hand_computed_example() -> None:
    report = tally_of(EXAMPLE).report()

    assert report["true_positives"] == 3
    assert report["false_positives"] == 1
    assert report["false_negatives"] == 2
    assert report["labelled"] == 8
    assert report["labelled_fraud"] == 5
    assert report["unlabelled"] == 1
    assert report["precision"] == 0.75  # 3 / 4
    assert report["recall"] == 0.6  # 3 / 5
    assert report["f1"] == 0.6667  # 2 * 0.75 * 0.6 / 1.35


def test_recall_by_pattern_counts_alerted_frauds_per_pattern() -> None:
    report = tally_of(EXAMPLE).report()

    assert report["recall_by_pattern"] == {
        "impossible_travel": 1.0,
        "unknown": 0.0,
        "velocity": 0.6667,
    }


def test_average_precision_on_a_hand_computed_example() -> None:
    # ranked: F(0.95) L(0.90) F(0.80) F(0.70) F(0.60) L(0.40) F(0.30) L(0.10), 5 frauds
    # AP = (1/5) * (1/1 + 2/3 + 3/4 + 4/5 + 5/7)
    expected = (1 + 2 / 3 + 3 / 4 + 4 / 5 + 5 / 7) / 5

    assert average_precision(tally_of(EXAMPLE)) == pytest.approx(expected, rel=1e-12)
    assert tally_of(EXAMPLE).report()["average_precision"] == round(expected, 4) == 0.7862


def test_tied_scores_are_one_threshold() -> None:
    # a fraud and a legit event tied at 0.8 share one threshold (precision 1/2 there), as in
    # scikit-learn; ranking the fraud first would give 0.8333 instead
    events: list[Event] = [
        (0.8, True, FRAUD),
        (0.8, True, LEGIT),
        (0.5, False, FRAUD),
        (0.1, False, LEGIT),
    ]

    assert average_precision(tally_of(events)) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)


def test_perfect_ranking_has_average_precision_one() -> None:
    events: list[Event] = [
        (0.9, True, FRAUD),
        (0.8, True, FRAUD),
        (0.2, False, LEGIT),
        (0.1, False, LEGIT),
    ]

    assert average_precision(tally_of(events)) == 1.0


def test_average_precision_without_frauds_is_zero() -> None:
    assert average_precision(tally_of([(0.9, True, LEGIT)])) == 0.0
    assert average_precision(QualityTally()) == 0.0


def test_empty_tally_reports_zeros() -> None:
    report = QualityTally().report()

    assert (report["precision"], report["recall"], report["f1"]) == (0.0, 0.0, 0.0)
    assert report["average_precision"] == 0.0
    assert report["labelled"] == 0
    assert report["recall_by_pattern"] == {}


def test_unlabelled_events_do_not_count_as_errors() -> None:
    report = tally_of([(0.99, True, None), (0.01, False, None)]).report()

    assert report["unlabelled"] == 2
    assert report["false_positives"] == report["false_negatives"] == 0


def reference_average_precision(pairs: list[tuple[float, bool]]) -> float:
    """scikit-learn's definition: sum over distinct thresholds of (R_n - R_n-1) * P_n."""
    positives = sum(is_fraud for _, is_fraud in pairs)
    if not positives:
        return 0.0
    area, previous_recall = 0.0, 0.0
    for threshold in sorted({score for score, _ in pairs}, reverse=True):
        flagged = [is_fraud for score, is_fraud in pairs if score >= threshold]
        recall = sum(flagged) / positives
        area += (recall - previous_recall) * (sum(flagged) / len(flagged))
        previous_recall = recall
    return area


labelled_events: st.SearchStrategy[list[Event]] = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.7, 0.9, 1.0]),  # few values: many ties
        st.booleans(),
        st.one_of(
            st.none(),
            st.builds(
                dict,
                is_fraud=st.booleans(),
                pattern=st.sampled_from(["velocity", "high_value", None]),
            ),
        ),
    ),
    max_size=40,
)


@given(labelled_events)
def test_average_precision_matches_the_scikit_learn_definition(
    events: list[Event],
) -> None:
    pairs = [(score, bool(label["is_fraud"])) for score, _, label in events if label is not None]

    assert average_precision(tally_of(events)) == pytest.approx(
        reference_average_precision(pairs), abs=1e-12
    )


@given(labelled_events, st.integers(min_value=0, max_value=40))
def test_merging_tallies_equals_one_tally_of_everything(events: list[Event], split: int) -> None:
    left, right = tally_of(events[:split]), tally_of(events[split:])

    left.merge(right)

    assert left == tally_of(events)
    assert left.report() == tally_of(events).report()
