"""The model's reasons for an alert: exact for the supervised model, shares for the forest."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest

from ml.reasons import (
    ISOLATION_METHOD,
    TOP_REASONS,
    IsolationExplainer,
    SupervisedExplainer,
    top_reasons,
)
from ml.scorer import FlatForest

NAMES = ("a", "b", "c", "d", "e", "f")


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    rows = rng.normal(size=(600, len(NAMES)))
    labels = (rows[:, 0] + rows[:, 1] ** 2 - 0.5 * rows[:, 4] > 1.2).astype(int)
    rows[::13, 2] = np.nan  # missing values take each node's own route
    return rows, labels


def test_supervised_contributions_add_up_to_the_decision_function(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    rows, labels = data
    model = HistGradientBoostingClassifier(
        max_iter=60, learning_rate=0.1, random_state=0, class_weight="balanced"
    )
    model.fit(rows, labels)
    explainer = SupervisedExplainer(model)
    parts = explainer.contributions(rows[:80])
    assert np.allclose(
        parts.sum(axis=1) + explainer.bias, model.decision_function(rows[:80]), atol=1e-9
    )
    # The features the label was made of lead; the unused ones say little, and on average
    # nothing: a tree's expected output is its bias, not its first split's feature's credit.
    mean = np.abs(parts).mean(axis=0)
    assert set(np.argsort(mean)[-2:]) == {0, 1}
    # Over the rows the trees were grown on, every feature's credits cancel out: each split's
    # expected value is its children's sample-weighted mean. (Crediting from scikit-learn's
    # own split values, 0 at the root, gave the root's feature each tree's whole output.)
    everything = explainer.contributions(rows)
    assert np.abs(everything.mean(axis=0)).max() < 1e-9


def test_isolation_shares_sum_to_one_and_favour_the_deviant_feature(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    rows = np.nan_to_num(data[0])
    model = IsolationForest(n_estimators=100, random_state=0).fit(rows)
    explainer = IsolationExplainer(FlatForest(model))
    outlier = np.zeros((1, len(NAMES)))
    outlier[0, 3] = 12.0
    shares = explainer.contributions(np.vstack([outlier, rows[:5]]))
    assert np.allclose(shares.sum(axis=1), 1.0)
    assert int(np.argmax(shares[0])) == 3
    assert np.array_equal(shares, explainer.contributions(np.vstack([outlier, rows[:5]])))
    with_nan = explainer.contributions(np.array([[math.nan] * len(NAMES)]))
    assert not with_nan.any()


def test_top_reasons_are_the_largest_parts_first(data: tuple[np.ndarray, np.ndarray]) -> None:
    rows = np.nan_to_num(data[0])
    model = IsolationForest(n_estimators=50, random_state=1).fit(rows)
    explained = top_reasons(IsolationExplainer(FlatForest(model)), NAMES, rows[:3].tolist())
    assert len(explained) == 3
    for row, item in zip(rows[:3], explained, strict=True):
        assert item["method"] == ISOLATION_METHOD
        parts = [abs(reason["contribution"]) for reason in item["reasons"]]
        assert parts == sorted(parts, reverse=True)
        assert len(parts) == TOP_REASONS
        for reason in item["reasons"]:
            assert reason["value"] == round(float(row[NAMES.index(reason["feature"])]), 4)
