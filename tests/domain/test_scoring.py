"""The rule combiner (noisy-OR, monotonic) and the blend with the anomaly model."""

from __future__ import annotations

from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.domain.scoring import blend, combine_rule_scores

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
weighted = st.tuples(unit, unit)
rule_sets = st.lists(weighted, max_size=5)


def test_no_triggered_rule_scores_zero() -> None:
    assert combine_rule_scores([]) == 0.0


def test_weight_one_score_one_rule_is_decisive_alone() -> None:
    assert combine_rule_scores([(1.0, 1.0)]) == 1.0


def test_decisive_rule_stays_decisive_next_to_weak_rules() -> None:
    assert combine_rule_scores([(0.6, 0.1), (1.0, 1.0), (0.9, 0.2)]) == 1.0


def test_two_half_rules_add_up_to_three_quarters() -> None:
    assert combine_rule_scores([(1.0, 0.5), (1.0, 0.5)]) == 0.75


def test_single_rule_scores_weight_times_score() -> None:
    assert combine_rule_scores([(0.9, 0.5)]) == pytest.approx(0.45, abs=1e-15)


def test_noisy_or_formula_on_a_hand_computed_example() -> None:
    # 1 - (1 - 0.9 * 0.5) * (1 - 0.6 * 1.0) = 1 - 0.55 * 0.4 = 0.78
    assert combine_rule_scores([(0.9, 0.5), (0.6, 1.0)]) == pytest.approx(0.78, abs=1e-15)


def test_zero_weight_rule_contributes_nothing() -> None:
    assert combine_rule_scores([(0.0, 1.0)]) == 0.0
    assert combine_rule_scores([(0.9, 0.5), (0.0, 1.0)]) == combine_rule_scores([(0.9, 0.5)])


def test_weak_rule_cannot_cancel_a_strong_one() -> None:
    # the earlier weighted average over triggered rules would drop 0.9 to 0.5 here
    strong = combine_rule_scores([(1.0, 0.9)])

    assert combine_rule_scores([(1.0, 0.9), (1.0, 0.1)]) > strong


def test_combiner_accepts_a_generator() -> None:
    assert combine_rule_scores((w, s) for w, s in [(1.0, 0.5), (1.0, 0.5)]) == 0.75


@given(rule_sets)
def test_combined_score_stays_in_the_unit_interval(rules: list[tuple[float, float]]) -> None:
    assert 0.0 <= combine_rule_scores(rules) <= 1.0


@given(rule_sets, weighted, st.integers(min_value=0))
def test_adding_a_triggered_rule_never_lowers_the_score(
    rules: list[tuple[float, float]], extra: tuple[float, float], position: int
) -> None:
    more = list(rules)
    more.insert(position % (len(rules) + 1), extra)

    assert combine_rule_scores(more) >= combine_rule_scores(rules)


@given(st.lists(weighted, min_size=1, max_size=5), st.integers(min_value=0), unit)
def test_raising_one_rule_score_never_lowers_the_score(
    rules: list[tuple[float, float]], index: int, higher: float
) -> None:
    index %= len(rules)
    weight, score = rules[index]
    raised = list(rules)
    raised[index] = (weight, max(score, higher))

    assert combine_rule_scores(raised) >= combine_rule_scores(rules)


@given(st.lists(weighted, min_size=1, max_size=5), st.integers(min_value=0), unit)
def test_raising_one_rule_weight_never_lowers_the_score(
    rules: list[tuple[float, float]], index: int, higher: float
) -> None:
    index %= len(rules)
    weight, score = rules[index]
    raised = list(rules)
    raised[index] = (max(weight, higher), score)

    assert combine_rule_scores(raised) >= combine_rule_scores(rules)


@given(rule_sets, st.randoms(use_true_random=False))
def test_rule_order_does_not_matter(rules: list[tuple[float, float]], rng: Random) -> None:
    shuffled = list(rules)
    rng.shuffle(shuffled)

    assert combine_rule_scores(shuffled) == pytest.approx(combine_rule_scores(rules), abs=1e-12)


@given(rule_sets)
def test_combined_score_is_at_least_the_strongest_weighted_rule(
    rules: list[tuple[float, float]],
) -> None:
    strongest = max((w * s for w, s in rules), default=0.0)

    assert combine_rule_scores(rules) >= strongest - 1e-12


# --- blend with the anomaly model (FR-006) ---------------------------------------------------


def test_blend_without_a_model_is_the_rule_score() -> None:
    assert blend(0.42, None, 0.3) == 0.42
    assert blend(0.42, None, 1.0) == 0.42


def test_blend_with_a_model_weights_ml_by_alpha() -> None:
    # 0.3 * 0.9 + 0.7 * 0.5 = 0.27 + 0.35
    assert blend(0.5, 0.9, 0.3) == pytest.approx(0.62, abs=1e-15)


def test_blend_at_the_alpha_extremes_picks_one_side() -> None:
    assert blend(0.5, 0.9, 0.0) == 0.5
    assert blend(0.5, 0.9, 1.0) == 0.9


def test_blend_with_a_zero_ml_score_still_counts_the_model() -> None:
    assert blend(1.0, 0.0, 0.3) == pytest.approx(0.7, abs=1e-15)


@given(unit, unit, unit)
def test_blend_lies_between_the_rule_and_ml_scores(rule: float, ml: float, alpha: float) -> None:
    fraud = blend(rule, ml, alpha)

    assert min(rule, ml) - 1e-12 <= fraud <= max(rule, ml) + 1e-12
