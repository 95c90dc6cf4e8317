"""Why the model scored an alert as it did: its inputs ranked by their part in the score.

Computed for alerts only, in the pipeline (``transforms.anomaly``) and again on demand (the
console) from the inputs the alert carries: deterministic, so the same numbers either way.

* **Supervised model** (``HistGradientBoostingClassifier``): per-feature contributions in
  log-odds, by the path each tree takes (Saabas): every split on the path credits its feature
  with the change in the tree's expected value (the training-sample-weighted mean of the
  leaves below) from the node to the child taken. The bias
  plus the contributions is exactly the model's ``decision_function``. Positive pushes towards
  fraud.
* **Isolation Forest**: the features that isolated the transaction. A split on the row's path
  in a tree credits its feature with ``1 / path length`` of that tree (a short path is what
  makes a point anomalous), averaged over the trees and given as shares that sum to 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ml.scorer import AnomalyScorer, FlatForest, Scorer, SupervisedScorer

TOP_REASONS = 5
DECIMALS = 4
SUPERVISED_METHOD = "path contributions (log-odds, sample-weighted)"
ISOLATION_METHOD = "isolation-path shares"


def _expected_values(nodes: Any, leaf: list[bool]) -> list[float]:
    """Each node's expected output: a leaf's (shrunk) value, and for a split the mean of its
    children's weighted by their training samples. scikit-learn keeps no such value for a
    split (its root's is 0), and crediting from it would give the first split's feature the
    whole tree's output."""
    values = [float(v) for v in nodes["value"]]
    counts = [float(c) for c in nodes["count"]]
    left = [int(n) for n in nodes["left"]]
    right = [int(n) for n in nodes["right"]]
    expected = [0.0] * len(values)
    # Children have higher indices than their parent in scikit-learn's node table.
    for node in range(len(values) - 1, -1, -1):
        if leaf[node]:
            expected[node] = values[node]
        else:
            a, b = left[node], right[node]
            total = counts[a] + counts[b]
            expected[node] = (
                (counts[a] * expected[a] + counts[b] * expected[b]) / total
                if total > 0
                else (expected[a] + expected[b]) / 2
            )
    return expected


# A tree as lists by node: is leaf, feature, threshold, missing goes left, left, right, and
# the expected value in the decision function's units.
_Tree = tuple[list[bool], list[int], list[float], list[bool], list[int], list[int], list[float]]


class SupervisedExplainer:
    """Saabas contributions of a fitted ``HistGradientBoostingClassifier`` (binary)."""

    method = SUPERVISED_METHOD

    def __init__(self, model: Any) -> None:
        self.bias = float(np.ravel(model._baseline_prediction)[0])
        # Each tree as plain lists, walked per row: a few hundred list lookups per alert.
        self.trees: list[_Tree] = []
        for predictors in model._predictors:
            nodes = predictors[0].nodes
            leaf = [bool(v) for v in nodes["is_leaf"]]
            expected = _expected_values(nodes, leaf)
            self.bias += expected[0]
            self.trees.append(
                (
                    leaf,
                    [int(f) for f in nodes["feature_idx"]],
                    [float(t) for t in nodes["num_threshold"]],
                    [bool(m) for m in nodes["missing_go_to_left"]],
                    [int(n) for n in nodes["left"]],
                    [int(n) for n in nodes["right"]],
                    expected,
                )
            )

    def contributions(self, rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        found = np.zeros(rows.shape, dtype=np.float64)
        for r, row in enumerate(rows.tolist()):
            credit = found[r]
            for leaf, feature, threshold, missing_left, left, right, expected in self.trees:
                node = 0
                while not leaf[node]:
                    f = feature[node]
                    x = row[f]
                    goes_left = missing_left[node] if math.isnan(x) else x <= threshold[node]
                    child = left[node] if goes_left else right[node]
                    credit[f] += expected[child] - expected[node]
                    node = child
        return found


class IsolationExplainer:
    """Isolation-path shares of an ``IsolationForest``, walked on its flat node table."""

    method = ISOLATION_METHOD

    def __init__(self, forest: FlatForest) -> None:
        self.forest = forest

    def contributions(self, rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        forest = self.forest
        count, width = rows.shape
        found = np.zeros((count, width), dtype=np.float64)
        if count == 0:
            return found
        # The flat table routes no missing value: such a row gets no reasons.
        finite: npt.NDArray[np.bool_] = np.asarray(~np.isnan(rows).any(axis=1))
        with np.errstate(over="ignore"):
            values = np.where(finite[:, None], rows, 0.0).astype(np.float32).astype(np.float64)
        flat = values.ravel()
        row_start = np.arange(count, dtype=np.intp) * width
        start = np.repeat(forest.roots, count).reshape(len(forest.roots), count)
        steps: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]] = []
        node = start
        for _ in range(forest.depth):
            split = forest.children[2 * node] != node
            steps.append((forest.feature[node], split))
            x = flat[row_start + forest.feature[node]]
            node = forest.children[2 * node + (x > forest.threshold[node])]
        weight = 1.0 / np.maximum(forest.leaf_value[node], 1e-12)  # (trees, rows)
        columns = np.broadcast_to(np.arange(count), weight.shape)
        for feature, split in steps:
            np.add.at(found, (columns[split], feature[split]), weight[split])
        totals = found.sum(axis=1, keepdims=True)
        shares: npt.NDArray[np.float64] = np.divide(
            found, totals, out=np.zeros_like(found), where=totals > 0
        )
        shares[~finite] = 0.0
        return shares


Explainer = SupervisedExplainer | IsolationExplainer


def explainer_for(scorer: Scorer) -> Explainer:
    if isinstance(scorer, SupervisedScorer):
        return SupervisedExplainer(scorer.model)
    assert isinstance(scorer, AnomalyScorer)
    return IsolationExplainer(FlatForest(scorer.model))


def top_reasons(
    explainer: Explainer, names: Sequence[str], rows: Sequence[Sequence[float]]
) -> list[dict[str, Any]]:
    """For each row, its ``TOP_REASONS`` inputs with the largest part in the score: ``{"method":
    ..., "reasons": [{"feature", "value", "contribution"}, ...]}``, largest first."""
    matrix = np.asarray(rows, dtype=np.float64).reshape(-1, len(names))
    contributions = explainer.contributions(matrix)
    explained = []
    for values, parts in zip(matrix.tolist(), contributions.tolist(), strict=True):
        order = sorted(range(len(names)), key=lambda i: (-abs(parts[i]), i))[:TOP_REASONS]
        explained.append(
            {
                "method": explainer.method,
                "reasons": [
                    {
                        "feature": names[i],
                        "value": None if math.isnan(values[i]) else round(values[i], DECIMALS),
                        "contribution": round(parts[i], DECIMALS),
                    }
                    for i in order
                    if parts[i] != 0.0
                ],
            }
        )
    return explained
