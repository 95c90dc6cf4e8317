"""Train a classifier on confirmed fraud: ``python -m ml.train --supervised``.

    python -m ml.train --supervised --scored 'out/scored-*.jsonl' --feedback data/feedback.jsonl
        --output_dir models/supervised [--train_from T --train_until T --labels_at T]

The training rows are the pipeline's own scored records (``scored-*.jsonl``): their
``ml_features`` (the anomaly features and the store's counts) and their rule scores are exactly
what the pipeline computed, and will compute when it serves the model, so training and serving
cannot drift. A row is a transaction whose event time lies in ``[train_from, train_until)``.
Its label is what the feedback said of it by ``labels_at`` (default: the latest report): fraud
if a fraud was reported for it and not withdrawn by a later genuine verdict, genuine otherwise;
a fraud reported after ``labels_at`` is not known yet and counts as genuine, as it would for a
team training at that moment.

The model is scikit-learn's ``HistGradientBoostingClassifier`` with balanced class weights
(fraud is a few percent of the rows); its score is the fraud probability. The artifact is
written and verified like the anomaly model's (``ml.artifact``, ``model_kind: supervised``),
with reference rows and their probabilities to catch library drift at load.
"""

from __future__ import annotations

import glob
import hashlib
import json
import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier

from ml.artifact import (
    SUPERVISED,
    ArtifactPaths,
    fraud_probabilities,
    reference_rows,
    write_artifact,
)
from transforms.domain.event_time import parse_timestamp
from transforms.domain.features import SUPERVISED_FEATURE_NAMES, model_inputs
from transforms.domain.feedback import Feedback, parse_feedback
from transforms.domain.verdicts import confirmed_by

__all__ = ["TrainingSet", "confirmed_frauds", "fit_classifier", "train_supervised", "training_set"]

MAX_ITER = 200
LEARNING_RATE = 0.1


@dataclass(frozen=True, slots=True)
class TrainingSet:
    features: npt.NDArray[np.float64]
    labels: npt.NDArray[np.int8]
    transaction_ids: tuple[str, ...]


def read_lines(patterns: Sequence[str]) -> Iterable[bytes]:
    files = sorted({path for pattern in patterns for path in glob.glob(pattern)})
    if not files:
        raise ValueError(f"no file matches {list(patterns)}")
    for path in files:
        for line in Path(path).read_bytes().splitlines():
            if line.strip():
                yield line


def confirmed_frauds(lines: Iterable[bytes], labels_at_ms: int | None) -> set[str]:
    """The transactions confirmed fraud by ``labels_at_ms`` (None: by the latest report), by
    the pipeline's own meaning of a verdict (``transforms.domain.verdicts``: the latest word on
    a transaction wins, at one instant a genuine one). Malformed records are skipped (the
    pipeline dead-letters them)."""
    reports = [record for record in map(parse_feedback, lines) if isinstance(record, Feedback)]
    return confirmed_by(reports, labels_at_ms)


def training_set(
    scored: Iterable[bytes], frauds: set[str], train_from_ms: int | None, train_until_ms: int | None
) -> TrainingSet:
    rows: list[list[float]] = []
    labels: list[int] = []
    ids: list[str] = []
    for line in scored:
        record: dict[str, Any] = json.loads(line)
        event_time = parse_timestamp(record["event_time"], None)
        if train_from_ms is not None and event_time < train_from_ms:
            continue
        if train_until_ms is not None and event_time >= train_until_ms:
            continue
        rows.append(model_inputs(record, SUPERVISED_FEATURE_NAMES))
        labels.append(int(record["transaction_id"] in frauds))
        ids.append(record["transaction_id"])
    features = np.asarray(rows, dtype=np.float64).reshape(-1, len(SUPERVISED_FEATURE_NAMES))
    return TrainingSet(features, np.asarray(labels, dtype=np.int8), tuple(ids))


def fit_classifier(training: TrainingSet, seed: int) -> Any:
    frauds = int(training.labels.sum())
    if frauds == 0 or frauds == len(training.labels):
        raise ValueError(
            f"{len(training.labels)} rows, {frauds} confirmed frauds: both classes are needed"
        )
    model = HistGradientBoostingClassifier(
        max_iter=MAX_ITER,
        learning_rate=LEARNING_RATE,
        class_weight="balanced",
        early_stopping=False,
        random_state=seed,
    )
    model.fit(training.features, training.labels)
    return model


def train_supervised(
    output_dir: str,
    scored: Sequence[str],
    feedback: Sequence[str],
    *,
    train_from: str | None = None,
    train_until: str | None = None,
    labels_at: str | None = None,
    seed: int = 42,
) -> ArtifactPaths:
    """Label, fit and write the artifact into ``output_dir``; times are ISO-8601 with offsets."""
    bounds = [parse_timestamp(t, None) if t else None for t in (train_from, train_until, labels_at)]
    frauds = confirmed_frauds(read_lines(feedback), bounds[2])
    training = training_set(read_lines(scored), frauds, bounds[0], bounds[1])
    model = fit_classifier(training, seed)
    probabilities = fraud_probabilities(model, training.features)
    matrix = np.ascontiguousarray(training.features, dtype="<f8")
    digest = hashlib.sha256(matrix.tobytes()).hexdigest()
    metadata = {
        "model_kind": SUPERVISED,
        "algorithm": "sklearn.ensemble.HistGradientBoostingClassifier",
        "feature_names": list(SUPERVISED_FEATURE_NAMES),
        "library_versions": {
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "joblib": joblib.__version__,
            "python": platform.python_version(),
        },
        "training_data_sha256": digest,
        "training": {
            "scored": list(scored),
            "feedback": list(feedback),
            "train_from": train_from,
            "train_until": train_until,
            "labels_at": labels_at,
            "rows": len(training.labels),
            "fraud_rows": int(training.labels.sum()),
            "seed": seed,
            "max_iter": MAX_ITER,
            "learning_rate": LEARNING_RATE,
            "class_weight": "balanced",
        },
        # The score is the fraud probability itself.
        "calibration": {"low": 0.0, "high": 1.0, "raw_score": "predict_proba(x)[:, 1]"},
        "reference": reference_rows(training.features, probabilities),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    return write_artifact(output_dir, model, metadata)
