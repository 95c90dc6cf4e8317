"""Promote a candidate model if it is not worse than the current one.

    python -m ml.promote --candidate DIR --model_dir DIR --candidate_metrics JSON
        [--current_metrics JSON] [--tolerance 0.0]

The metrics are ``ml.evaluate``'s output for each model on the same held-out window. The
candidate is promoted when there is no current model, or when the blended score's average
precision and card precision@100 are both at least the current model's minus ``--tolerance``.
Promotion copies the artifact into a folder of its own, verifies the copy, and switches
``--model_dir`` (a symbolic link) to it atomically; the model it replaces stays reachable as
``<model_dir>.previous``, for a rollback. The decision is printed as JSON either way; the
model_retrain DAG records it in the warehouse's model registry.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import uuid
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
    """Serve the candidate at ``model_dir``, which becomes a symbolic link to a folder of its
    own, switched atomically; the one it replaces stays reachable as ``<model_dir>.previous``.

    The files are verified where they will be served, before the switch: a reader sees the
    old model or the new one, whole, never a half-copied folder or none.
    """
    target = Path(model_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    release = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    for path in Path(candidate_dir).iterdir():
        if path.is_file() and not path.name.startswith("."):
            shutil.copy2(path, release / path.name)
    load_artifact(str(release))  # the copy, checked as a worker will check it
    previous = target.with_name(target.name + ".previous")
    replaced: Path | None = None
    if target.is_symlink():
        replaced = target.parent / os.readlink(target)
    elif target.exists():  # a plain folder from before: moved aside once
        replaced = target.with_name(f".{target.name}-{uuid.uuid4().hex[:12]}")
        target.rename(replaced)
    _point(target, release)
    if replaced is not None:
        stale = previous.parent / os.readlink(previous) if previous.is_symlink() else None
        _point(previous, replaced)
        if stale is not None and stale not in (replaced, release):
            shutil.rmtree(stale, ignore_errors=True)


def _point(link: Path, folder: Path) -> None:
    """Make ``link`` a relative symbolic link to ``folder``, atomically."""
    staging = link.with_name(f".{link.name}.{os.getpid()}.link")
    staging.unlink(missing_ok=True)
    os.symlink(folder.name, staging)
    os.replace(staging, link)


def promote(
    candidate_dir: str,
    model_dir: str,
    candidate_metrics: dict[str, Any],
    current_metrics: dict[str, Any] | None,
    tolerance: float = 0.0,
    current_model: str | None = None,
) -> dict[str, Any]:
    """``current_model``: the model ``current_metrics`` were measured with, when nothing was
    promoted to ``model_dir`` yet and runs fall back to another one (default: ``model_dir``)."""
    if not candidate_metrics:
        raise ValueError("the candidate has no metrics: it was not evaluated")
    candidate = load_artifact(candidate_dir)  # verified before it can be served
    current_version = None
    served = current_model or model_dir
    if (Path(served) / "metadata.json").exists():
        current_version = load_artifact(served).metadata.get("model_version")
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
    parser.add_argument(
        "--current_model", help="The model --current_metrics measured (default: --model_dir)."
    )
    parser.add_argument("--tolerance", type=float, default=0.0)
    args = parser.parse_args(argv)
    try:
        result = promote(
            args.candidate,
            args.model_dir,
            args.candidate_metrics,
            args.current_metrics,
            args.tolerance,
            args.current_model,
        )
    except (ArtifactError, ValueError) as error:
        print(f"ml.promote: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
