"""Train the FR-006 anomaly model on archived events, or a classifier on confirmed fraud.

    python -m ml.train --output_dir DIR --events 'archive/date=2026-10-0*/*.jsonl' [--blacklist F]
    python -m ml.train --output_dir DIR --supervised --scored 'out/scored-*.jsonl' \
        --feedback feedback.jsonl [--train_from T --train_until T --labels_at T]

``--supervised`` trains a classifier on confirmed fraud instead (``ml.supervised``); the rest
of this docstring is the unsupervised model's. Training on generated history (the default
model, ``models/default``) runs the project's generator, so it lives with the entry points:
``python -m pipelines.train_default``.

The lines of the files ``--events`` names (local globs, repeatable: the recent days of an
archive, what the model_retrain DAG trains on) are the history. ``ml.replay`` runs it through
the same domain code the pipeline uses, so the features are exactly the ones served. An
``IsolationForest(n_estimators=100, contamination=0.02, random_state=seed)`` is fitted on
*every* replayed event: the model is unsupervised; labels, where the history has them, only
report in the metadata how much fraud the training data held.

Calibration
-----------
The raw anomaly score is ``raw = -decision_function(x)`` (higher = more anomalous; 0 is the
contamination boundary). It is mapped to ``ml_score = clip((raw - low) / (high - low), 0, 1)``
with ``low`` = the 50th and ``high`` = the 99.9th percentile of the training raw scores:

* the typical (median) event and anything more normal score 0, so ordinary traffic adds
  nothing to the blended ``fraud_score``;
* the top 0.1% of training events saturate at 1, so a single extreme tree path cannot
  stretch the scale for everything else;
* in between the score is linear in the forest's own score, and the contamination boundary
  (``raw = 0``, the 2% most anomalous) lands near 0.65, just above the default FR-006
  threshold of 0.6. The metadata records that boundary's ``ml_score`` for tuning.

Both bounds, the percentiles they came from, and reference rows with their expected raw
scores (to detect library drift when loading) are written to ``metadata.json``.

Deterministic: the same history, seed and library versions give byte-identical
``model.joblib``. A mistake (no file matches, too few events) is one line on stderr,
``ml.train: <reason>``, and exit status 1; a usage mistake exits 2.
"""

from __future__ import annotations

import glob
import hashlib
import platform
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
import sklearn
from sklearn.ensemble import IsolationForest

from ml.artifact import (
    ArtifactPaths,
    Calibration,
    raw_anomaly_scores,
    reference_rows,
    write_artifact,
)
from ml.cli import CommandParser, run_command
from ml.replay import Replay, blacklist_from_file, replay
from transforms.domain.config import default_rules
from transforms.domain.event_time import DEFAULT_BUSINESS_TIMEZONE, business_timezone
from transforms.domain.features import FEATURE_NAMES

__all__ = [
    "CALIBRATION_PERCENTILES",
    "CONTAMINATION",
    "N_ESTIMATORS",
    "fit_and_write",
    "fit_model",
    "main",
    "train_on_events",
]

N_ESTIMATORS = 100
CONTAMINATION = 0.02
CALIBRATION_PERCENTILES = (50.0, 99.9)


def fit_model(features: npt.NDArray[np.float64], seed: int) -> Any:
    """The unsupervised forest, fitted on every row of ``features``."""
    model = IsolationForest(
        n_estimators=N_ESTIMATORS, contamination=CONTAMINATION, random_state=seed
    )
    model.fit(features)
    return model


def calibrate(raw: npt.NDArray[np.float64]) -> Calibration:
    """Bounds from the training raw scores (module docstring); never a degenerate scale."""
    low, high = (float(v) for v in np.percentile(raw, CALIBRATION_PERCENTILES))
    if not high > low:  # a tiny or constant training set: use its whole range instead
        low, high = float(raw.min()), float(raw.max())
    if not high > low:
        raise ValueError("training raw scores have no spread: cannot calibrate")
    return Calibration(low, high)


def features_sha256(features: npt.NDArray[np.float64]) -> str:
    """Hash of the exact matrix the model saw (little-endian float64, row-major)."""
    data = np.ascontiguousarray(features, dtype="<f8")
    return hashlib.sha256(data.tobytes()).hexdigest()


def train_on_events(
    output_dir: str, patterns: Sequence[str], *, seed: int = 42, blacklist: str | None = None
) -> ArtifactPaths:
    """Replay the lines of the files ``patterns`` match, fit, calibrate, write the artifact."""
    files = sorted({path for pattern in patterns for path in glob.glob(pattern)})
    if not files:
        raise ValueError(f"no file matches {list(patterns)}")
    lines = [line for path in files for line in Path(path).read_bytes().splitlines()]
    history = replay(
        [line for line in lines if line],
        blacklist_from_file(blacklist),
        default_rules(),
        business_timezone(DEFAULT_BUSINESS_TIMEZONE),
    )
    training = {"events": list(patterns), "files": len(files)}
    return fit_and_write(output_dir, history, seed, training)


def fit_and_write(
    output_dir: str, history: Replay, seed: int, training: dict[str, Any]
) -> ArtifactPaths:
    rules = default_rules()
    if len(history) < 2:
        raise ValueError(f"only {len(history)} valid events: too few to train on")
    model = fit_model(history.features, seed)
    raw = raw_anomaly_scores(model, history.features)
    calibration = calibrate(raw)
    metadata = {
        "feature_names": list(FEATURE_NAMES),
        "library_versions": {
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "joblib": joblib.__version__,
            "python": platform.python_version(),
        },
        "training_data_sha256": features_sha256(history.features),
        "training": {
            **training,
            "seed": seed,
            "rows": len(history),
            "invalid_lines": history.invalid,
            "rules_version": rules.rules_version,
            "business_timezone": DEFAULT_BUSINESS_TIMEZONE,
        },
        "algorithm": "sklearn.ensemble.IsolationForest",
        "contamination": CONTAMINATION,
        "n_estimators": N_ESTIMATORS,
        "max_samples": int(model.max_samples_),
        "calibration": {
            "low": calibration.low,
            "high": calibration.high,
            "low_percentile": CALIBRATION_PERCENTILES[0],
            "high_percentile": CALIBRATION_PERCENTILES[1],
            "raw_score": "-decision_function(x), higher is more anomalous",
            "formula": "clip((raw - low) / (high - low), 0, 1)",
            # The ml_score at the contamination boundary: a guide for ml.threshold.
            "contamination_boundary_score": float(calibration.apply(np.zeros(1))[0]),
        },
        "reference": reference_rows(history.features, raw),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    return write_artifact(output_dir, model, metadata)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("ml.train", _main, argv)


def _main(argv: Sequence[str] | None) -> None:
    parser = CommandParser(prog="ml.train", description="Train the FR-006 anomaly model.")
    parser.add_argument("--output_dir", required=True, help="artifact folder to (over)write")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--events", action="append", help="Train on these JSONL files (glob, repeatable)."
    )
    parser.add_argument("--blacklist", help="The blacklist CSV of --events' history.")
    supervised = parser.add_argument_group("--supervised: a classifier on confirmed fraud")
    supervised.add_argument("--supervised", action="store_true")
    supervised.add_argument(
        "--scored", action="append", help="The pipeline's scored-*.jsonl (glob, repeatable)."
    )
    supervised.add_argument(
        "--feedback", action="append", help="Confirmed outcomes, JSONL (glob, repeatable)."
    )
    supervised.add_argument("--train_from", help="First event time trained on (ISO-8601).")
    supervised.add_argument("--train_until", help="Event times trained on end before this.")
    supervised.add_argument(
        "--labels_at", help="What the feedback said by this instant (default: all of it)."
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.supervised:
        if not args.scored or not args.feedback:
            parser.error("--supervised needs --scored and --feedback")
        from ml.supervised import train_supervised

        paths = train_supervised(
            args.output_dir,
            args.scored,
            args.feedback,
            train_from=args.train_from,
            train_until=args.train_until,
            labels_at=args.labels_at,
            seed=args.seed,
        )
    elif args.events:
        paths = train_on_events(
            args.output_dir, args.events, seed=args.seed, blacklist=args.blacklist
        )
    else:
        parser.error(
            "give --events or --supervised; the default model, on generated history, is "
            "trained by python -m pipelines.train_default"
        )
    seconds = time.perf_counter() - started
    print(f"Wrote {paths.model_version} to {paths.directory} in {seconds:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
