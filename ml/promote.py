"""Promote a candidate model if it is not worse than the current one.

    python -m ml.promote --candidate DIR --model_dir DIR --candidate_metrics JSON
        [--current_metrics JSON] [--tolerance 0.0]

The metrics are ``ml.evaluate``'s output for each model on the same held-out window. The
candidate is promoted when there is no current model, or when the blended score's average
precision and card precision@100 are both at least the current model's minus ``--tolerance``.
Promotion copies the verified artifact into ``--model_dir`` (the previous one kept beside it as
``<model_dir>.previous``, for a rollback) and prints the decision as JSON either way; the
model_retrain DAG records it in the warehouse's model registry.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ml.artifact import ArtifactError, load_artifact

SCORE = "blend"
COMPARED = ("average_precision", "card_precision_at_100")


def decide(
    candidate: dict[str, Any], current: dict[str, Any] | None, tolerance: float
) -> tuple[bool, str]:
    """Whether to promote, and why, from two ``ml.evaluate`` reports."""
    if not current:
        return True, "no current model"
    worse = [
        f"{metric} {candidate[SCORE][metric]} < {current[SCORE][metric]}"
        for metric in COMPARED
        if candidate[SCORE][metric] < current[SCORE][metric] - tolerance
    ]
    if worse:
        return False, "worse on the held-out window: " + "; ".join(worse)
    return True, "not worse on the held-out window"


def install(candidate_dir: str, model_dir: str) -> None:
    """Copy the artifact into ``model_dir``; the one it replaces becomes ``.previous``."""
    target = Path(model_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    for path in Path(candidate_dir).iterdir():
        if path.is_file() and not path.name.startswith("."):
            shutil.copy2(path, staging / path.name)
    previous = target.with_name(target.name + ".previous")
    if target.exists():
        shutil.rmtree(previous, ignore_errors=True)
        target.rename(previous)
    staging.rename(target)


def promote(
    candidate_dir: str,
    model_dir: str,
    candidate_metrics: dict[str, Any],
    current_metrics: dict[str, Any] | None,
    tolerance: float = 0.0,
) -> dict[str, Any]:
    candidate = load_artifact(candidate_dir)  # verified before it can be served
    current_version = None
    if (Path(model_dir) / "metadata.json").exists():
        current_version = load_artifact(model_dir).metadata.get("model_version")
    promoted, reason = decide(candidate_metrics, current_metrics, tolerance)
    if promoted:
        install(candidate_dir, model_dir)
    return {
        "decision": "promoted" if promoted else "kept",
        "reason": reason,
        "model_dir": str(Path(model_dir).resolve()),
        "candidate": {
            "model_version": candidate.metadata["model_version"],
            "model_sha256": candidate.metadata["model_sha256"],
            "training": candidate.metadata.get("training", {}),
            "metrics": candidate_metrics,
        },
        "current": {"model_version": current_version, "metrics": current_metrics},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", required=True, help="The candidate artifact's folder.")
    parser.add_argument("--model_dir", required=True, help="Where the served model lives.")
    parser.add_argument("--candidate_metrics", required=True, type=json.loads)
    parser.add_argument("--current_metrics", type=json.loads)
    parser.add_argument("--tolerance", type=float, default=0.0)
    args = parser.parse_args(argv)
    try:
        result = promote(
            args.candidate,
            args.model_dir,
            args.candidate_metrics,
            args.current_metrics,
            args.tolerance,
        )
    except ArtifactError as error:
        print(f"ml.promote: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
