"""Batched, calibrated scoring with the FR-006 anomaly model.

Design: docs/architecture.md, "Anomaly model".

``load_scorer(source)`` gives an :class:`AnomalyScorer` or, for a missing, corrupt or
mismatched artifact, ``None`` after one warning line: the pipeline then writes
``ml_score = null`` and the rules still score. It never raises, so a bad model cannot stop a
worker. Build it once per worker (``DoFn.setup``); it is also picklable.

``AnomalyScorer.score_batch`` maps a whole batch of feature rows to calibrated scores in
[0, 1]. scikit-learn's ``decision_function`` has a fixed cost of ~12 ms per call (input
validation, a joblib dispatch, then one Cython call per tree), so scoring has two paths:

``sklearn``
    ``IsolationForest.decision_function`` on the batch: the reference.
``numpy``
    all 100 trees flattened into one node table and walked for every (tree, row) pair at
    once, a fixed number of vectorised steps (the deepest tree's depth). It reproduces
    ``IsolationForest._compute_score_samples`` of scikit-learn 1.9: rows are cast to float32
    as scikit-learn does before ``tree.apply`` (``x <= threshold`` goes left), each leaf
    contributes ``depth + c(n_leaf) - 1`` with ``c`` the average path length of an
    unsuccessful BST search, the per-tree terms are summed in tree order, and
    ``score = -2 ** (-sum / (n_trees * c(max_samples)))``.

The numpy path is used when, at construction, it agrees with scikit-learn within 1e-9 on a
probe batch built from the trees' own thresholds; otherwise (another scikit-learn release
changed something) the scorer falls back to scikit-learn and logs why. Rows with NaN always
go to scikit-learn, whose trees route missing values by a per-node rule.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ml.artifact import (
    ISOLATION_FOREST,
    SUPERVISED,
    ArtifactError,
    ArtifactFiles,
    Calibration,
    LoadedArtifact,
    fraud_probabilities,
    load_artifact,
    raw_anomaly_scores,
)
from transforms.domain.features import FEATURE_NAMES, SUPERVISED_FEATURE_NAMES

__all__ = [
    "AnomalyScorer",
    "FlatForest",
    "Scorer",
    "SupervisedScorer",
    "average_path_length",
    "load_scorer",
]

_LOG = logging.getLogger(__name__)

Method = Literal["auto", "numpy", "sklearn"]
# The numpy path must agree with scikit-learn this closely to be used.
PATH_TOLERANCE = 1e-9
_PROBE_ROWS = 512
_N_FEATURES = len(FEATURE_NAMES)


def average_path_length(n_samples: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``c(n)``, the average path length of an unsuccessful search in an ``n``-node BST.

    The same expression as scikit-learn's ``_iforest._average_path_length``: 0 for n <= 1,
    1 for n == 2, else ``2 (ln(n - 1) + euler_gamma) - 2 (n - 1) / n``.
    """
    n = np.asarray(n_samples, dtype=np.float64)
    result = np.zeros(n.shape, dtype=np.float64)
    result[n == 2] = 1.0
    big = n > 2
    result[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return result


class FlatForest:
    """An ``IsolationForest``'s trees as flat arrays, walked for all trees at once.

    Node ``k`` of the table tests ``x[feature[k]] <= threshold[k]`` and continues at
    ``children[2k]`` (true) or ``children[2k + 1]`` (false). Leaves point to themselves, so
    walking ``depth`` steps from every root ends on each row's leaf in every tree without
    per-row branching; ``leaf_value[k]`` is that leaf's path-length term.
    """

    def __init__(self, model: Any) -> None:
        trees = model.estimators_
        n_features = int(model.n_features_in_)
        # scikit-learn only indexes feature subsets when trees saw fewer than all features.
        subsampled = int(model._max_features) != n_features
        features: list[npt.NDArray[np.intp]] = []
        thresholds: list[npt.NDArray[np.float64]] = []
        children: list[npt.NDArray[np.intp]] = []
        leaf_values: list[npt.NDArray[np.float64]] = []
        roots: list[int] = []
        offset = 0
        depth = 0
        for estimator, subset in zip(trees, model.estimators_features_, strict=True):
            tree = estimator.tree_
            left = np.asarray(tree.children_left, dtype=np.intp)
            right = np.asarray(tree.children_right, dtype=np.intp)
            is_leaf = left == -1
            own = np.arange(len(left), dtype=np.intp)
            feature = np.where(is_leaf, 0, np.asarray(tree.feature, dtype=np.intp))
            if subsampled:
                feature = np.asarray(subset, dtype=np.intp)[feature]
            pair = np.empty(2 * len(left), dtype=np.intp)
            pair[0::2] = np.where(is_leaf, own, left) + offset
            pair[1::2] = np.where(is_leaf, own, right) + offset
            node_depths = _node_depths(left, right)
            # The same float operations as scikit-learn, in the same order: bit-identical.
            value = (node_depths + average_path_length(np.asarray(tree.n_node_samples))) - 1.0
            features.append(feature)
            thresholds.append(np.where(is_leaf, 0.0, np.asarray(tree.threshold, np.float64)))
            children.append(pair)
            leaf_values.append(value)
            roots.append(offset)
            offset += len(left)
            depth = max(depth, int(node_depths.max()) - 1)
        self.feature = np.concatenate(features)
        self.threshold = np.concatenate(thresholds)
        self.children = np.concatenate(children)
        self.leaf_value = np.concatenate(leaf_values)
        self.roots = np.asarray(roots, dtype=np.intp)
        self.depth = depth
        self.n_features = n_features
        self.denominator = float(len(trees) * average_path_length([int(model.max_samples_)])[0])
        self.offset = float(model.offset_)

    def raw_scores(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``-decision_function`` for finite (or infinite, not NaN) rows of shape (n, f)."""
        rows = features.shape[0]
        # scikit-learn validates input to float32 before walking trees.
        with np.errstate(over="ignore"):
            values = features.astype(np.float32).astype(np.float64).ravel()
        row_start = np.arange(rows, dtype=np.intp) * self.n_features
        node = np.repeat(self.roots, rows).reshape(len(self.roots), rows)
        for _ in range(self.depth):
            x = values[row_start + self.feature[node]]
            node = self.children[2 * node + (x > self.threshold[node])]
        terms = self.leaf_value[node]
        # Summed tree after tree, as scikit-learn accumulates, so results are bit-identical.
        # Summing axis 0 of a (trees, rows > 1) array adds row after row; a single column
        # is contiguous and numpy would add it pairwise, so that case is summed in Python.
        if rows == 1:
            depths = np.array([sum(terms[:, 0].tolist())], dtype=np.float64)
        else:
            depths = terms.sum(axis=0)
        if self.denominator != 0:
            scores = 2.0 ** (-(depths / self.denominator))
        else:  # a single training sample: scikit-learn defines the score as 2 ** -1
            scores = np.full(rows, 0.5)
        decision = -scores - self.offset
        return np.asarray(-decision, dtype=np.float64)


def _node_depths(left: npt.NDArray[np.intp], right: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
    """Depth of every node, root = 1 (``Tree.compute_node_depths``); parents precede children."""
    depths = np.empty(len(left), dtype=np.int64)
    depths[0] = 1
    for node in range(len(left)):
        if left[node] != -1:
            depths[left[node]] = depths[right[node]] = depths[node] + 1
    return depths


class AnomalyScorer:
    """Calibrated anomaly scores in [0, 1] for batches of ``FEATURE_NAMES`` rows."""

    kind = ISOLATION_FOREST
    feature_names = FEATURE_NAMES

    def __init__(
        self,
        model: Any,
        calibration: Calibration,
        model_version: str,
        method: Method = "auto",
    ) -> None:
        self.model = model
        self.calibration = calibration
        self.model_version = model_version
        self._forest: FlatForest | None = None
        if method in ("auto", "numpy"):
            forest = FlatForest(model)
            error = _path_error(model, forest)
            if error <= PATH_TOLERANCE:
                self._forest = forest
            elif method == "numpy":
                raise ValueError(f"numpy path differs from scikit-learn by {error:.3g}")
            else:
                _LOG.warning(
                    "model %s: numpy scoring differs from scikit-learn by %.3g; using "
                    "scikit-learn (slower)",
                    model_version,
                    error,
                )

    @classmethod
    def from_artifact(cls, artifact: LoadedArtifact, method: Method = "auto") -> AnomalyScorer:
        return cls(artifact.model, artifact.calibration, artifact.model_version, method)

    @property
    def method(self) -> Literal["numpy", "sklearn"]:
        """The path ``score_batch`` uses."""
        return "numpy" if self._forest is not None else "sklearn"

    def score_batch(
        self, features: Sequence[Sequence[float]] | npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """Calibrated scores, one per row, in [0, 1]; the whole batch in one vectorised pass."""
        return self.calibration.apply(self.raw_scores(features))

    def raw_scores(
        self,
        features: Sequence[Sequence[float]] | npt.NDArray[np.float64],
        method: Literal["numpy", "sklearn"] | None = None,
    ) -> npt.NDArray[np.float64]:
        """``-decision_function`` (higher = more anomalous) by ``method`` (default: the best)."""
        rows = _as_matrix(features)
        if rows.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        use_numpy = (method or self.method) == "numpy" and not np.isnan(rows).any()
        if use_numpy:
            forest = self._forest if self._forest is not None else FlatForest(self.model)
            return forest.raw_scores(rows)
        return raw_anomaly_scores(self.model, rows)


def _as_matrix(
    features: Sequence[Sequence[float]] | npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    rows = np.asarray(features, dtype=np.float64)
    if rows.ndim == 1 and rows.size == 0:
        rows = rows.reshape(0, _N_FEATURES)
    if rows.ndim != 2 or rows.shape[1] != _N_FEATURES:
        raise ValueError(f"expected rows of {_N_FEATURES} features, got shape {rows.shape}")
    return rows


def _probe(forest: FlatForest) -> npt.NDArray[np.float64]:
    """Rows that exercise the trees: random values within the split range, and rows sitting
    exactly on thresholds (``<=`` goes left) or just off them, where rounding would show."""
    rng = np.random.default_rng(0)
    split = forest.children[0::2] != np.arange(len(forest.threshold))
    rows = rng.uniform(size=(_PROBE_ROWS, forest.n_features))
    for column in range(forest.n_features):
        cuts = forest.threshold[split & (forest.feature == column)]
        if cuts.size == 0:
            continue
        low, high = float(cuts.min()), float(cuts.max())
        span = high - low or 1.0
        rows[:, column] = low - 0.1 * span + rows[:, column] * 1.2 * span
        # in float32, the precision scikit-learn compares at
        exact = rng.choice(cuts, size=_PROBE_ROWS // 4).astype(np.float32)
        rows[: _PROBE_ROWS // 4, column] = exact
        rows[_PROBE_ROWS // 4 : _PROBE_ROWS // 2, column] = np.nextafter(exact, np.float32(np.inf))
    return rows


def _path_error(model: Any, forest: FlatForest) -> float:
    probe = _probe(forest)
    difference = np.abs(forest.raw_scores(probe) - raw_anomaly_scores(model, probe))
    return float(difference.max())


class SupervisedScorer:
    """Fraud probabilities in [0, 1] of a classifier trained on confirmed fraud, for batches of
    ``SUPERVISED_FEATURE_NAMES`` rows (``ml.supervised``)."""

    kind = SUPERVISED
    feature_names = SUPERVISED_FEATURE_NAMES

    def __init__(self, model: Any, model_version: str) -> None:
        self.model = model
        self.model_version = model_version

    def score_batch(
        self, features: Sequence[Sequence[float]] | npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        rows = np.asarray(features, dtype=np.float64).reshape(-1, len(SUPERVISED_FEATURE_NAMES))
        if rows.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        return np.clip(fraud_probabilities(self.model, rows), 0.0, 1.0)


Scorer = AnomalyScorer | SupervisedScorer


def scorer_for(artifact: LoadedArtifact) -> Scorer:
    if artifact.kind == SUPERVISED:
        return SupervisedScorer(artifact.model, artifact.model_version)
    return AnomalyScorer.from_artifact(artifact)


def load_scorer(source: str | ArtifactFiles | None) -> Scorer | None:
    """The scorer for an artifact (folder or files), or ``None`` (logged once) if unusable."""
    if source is None:
        _LOG.info("no anomaly model configured: ml_score is null, rules only")
        return None
    try:
        return scorer_for(load_artifact(source))
    except ArtifactError as error:
        reason = error.message
    except Exception as error:  # never stop a worker over the optional model
        reason = f"unexpected {error!r}"
    location = source.source if isinstance(source, ArtifactFiles) else source
    _LOG.warning(
        "anomaly model not loaded from %s: %s; ml_score is null, rules still score",
        location,
        reason,
    )
    return None
