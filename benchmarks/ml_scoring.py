"""Anomaly-model scoring throughput on one core: scikit-learn versus the numpy tree walk.

    python benchmarks/ml_scoring.py [--model DIR] [--seconds 1.0]

Without ``--model`` it trains the default model (``pipelines.train_default`` defaults) into a
temporary folder first and reports how long that took. Feature rows are real: replayed generated
history of another seed than the model's. For batch sizes 1, 64, 256 and 1024 it times
``AnomalyScorer.raw_scores`` by both paths (the calibration is the same cheap clip for both)
and reports scores per second on one core, plus the largest difference between the paths.

BLAS/OpenMP pools are pinned to one thread before numpy is imported (and again with
threadpoolctl when available), so the numbers are per core. Prints one JSON document;
numbers drift with machine load, compare ratios.
"""

from __future__ import annotations

import os

# Before numpy is imported anywhere: thread pools size themselves at import.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

BATCH_SIZES = (1, 64, 256, 1024)
FEATURE_SEED = 4242  # not the model's seed: score data the model has not seen


def _single_thread() -> contextlib.AbstractContextManager[Any]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)  # type: ignore[no-any-return]


def _features(rows: int) -> npt.NDArray[np.float64]:
    from pipelines.synthetic import GeneratorConfig
    from pipelines.train_default import generated_history

    customers = max(50, rows // 25)  # ~27 events per customer over 30 days
    _, history = generated_history(GeneratorConfig(seed=FEATURE_SEED, customers=customers))
    return history.features


def _rate(score: Any, batches: list[npt.NDArray[np.float64]], seconds: float) -> float:
    """Scores per second: whole passes over ``batches`` until ``seconds`` have elapsed."""
    score(batches[0])  # warm caches and lazy imports
    rows = calls = 0
    started = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        batch = batches[calls % len(batches)]
        score(batch)
        rows += len(batch)
        calls += 1
        elapsed = time.perf_counter() - started
    return rows / elapsed


def measure(model_dir: str, seconds: float) -> dict[str, Any]:
    from ml.scorer import load_scorer

    scorer = load_scorer(model_dir)
    if scorer is None:
        raise SystemExit(f"no usable model at {model_dir}")
    features = _features(max(BATCH_SIZES) * 8)
    results: dict[str, Any] = {}
    for size in BATCH_SIZES:
        # Different slices each call, so no path profits from scoring the same rows again.
        batches = [features[start : start + size] for start in range(0, len(features) - size, size)]
        sklearn_rate = _rate(lambda b: scorer.raw_scores(b, "sklearn"), batches, seconds)
        numpy_rate = _rate(lambda b: scorer.raw_scores(b, "numpy"), batches, seconds)
        error = max(
            float(np.abs(scorer.raw_scores(b, "numpy") - scorer.raw_scores(b, "sklearn")).max())
            for b in batches[:20]
        )
        results[str(size)] = {
            "sklearn_scores_per_s": round(sklearn_rate),
            "numpy_scores_per_s": round(numpy_rate),
            "numpy_speedup": round(numpy_rate / sklearn_rate, 2),
            "max_abs_difference": error,
        }
    return {
        "model_version": scorer.model_version,
        "default_path": scorer.method,
        "batch_sizes": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="artifact folder; default: train one first")
    parser.add_argument("--seconds", type=float, default=1.0, help="timing per measurement")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "threads": 1,
    }
    with _single_thread(), tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model
        if model_dir is None:
            from pipelines.train_default import train_model

            started = time.perf_counter()
            model_dir = train_model(scratch).directory
            report["training_seconds"] = round(time.perf_counter() - started, 2)
        report.update(measure(model_dir, args.seconds))
    print(json.dumps(report, indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
