"""Promote a candidate model if it is not worse than the current one.

    python -m ml.promote --candidate DIR --model_dir DIR --candidate_metrics JSON
        [--current_metrics JSON] [--tolerance 0.0]

The metrics are ``ml.evaluate``'s output for each model on the same held-out window. The
candidate is promoted when there is no current model, or when the blended score's average
precision and card precision@100 are both at least the current model's minus ``--tolerance``.
An evaluation without scores (``ml.evaluate``'s ``"no scores or a single class"``: no
confirmed fraud in the window, say) measured nothing, so it is never grounds to promote, not
even a first model: the candidate is refused, nothing changes.
Promotion copies the artifact into a folder of its own, verifies the copy, and switches
``--model_dir`` (a symbolic link) to it atomically; the model it replaces stays reachable as
``<model_dir>.previous``, for a rollback. The decision is printed as JSON either way; the
model_retrain DAG records it in the warehouse's model registry.

Exit status: 0 when decided (promoted or kept); 3 (``NOT_MEASURED``) when an evaluation has no
scores to compare, a refusal that a retry would repeat; 1 for another failure (an unusable
artifact, say); 2 for a usage mistake. Every failure is one line on stderr,
``ml.promote: <reason>``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ml.artifact import load_artifact
from ml.cli import CommandError, CommandParser, run_command

SCORE = "blend"
COMPARED = ("average_precision", "card_precision_at_100")
NOT_MEASURED = 3


class NotMeasuredError(CommandError):
    """An evaluation has no scores to compare: nothing can be promoted on it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, NOT_MEASURED)


def measured(report: dict[str, Any], whose: str) -> dict[str, float]:
    """The compared metrics of ``report``'s blended score, or :class:`NotMeasuredError`."""
    score = report.get(SCORE)
    if not isinstance(score, dict) or not all(
        isinstance(score.get(metric), int | float) for metric in COMPARED
    ):
        why = score.get("note", "no metrics") if isinstance(score, dict) else "no blend score"
        raise NotMeasuredError(f"the {whose}'s evaluation has no scores ({why}): nothing promoted")
    return {metric: float(score[metric]) for metric in COMPARED}


def decide(
    candidate: dict[str, Any], current: dict[str, Any] | None, tolerance: float
) -> tuple[bool, str]:
    """Whether to promote, and why, from two ``ml.evaluate`` reports; :class:`NotMeasuredError`
    when either has no scores to compare."""
    challenger = measured(candidate, "candidate")
    if not current:
        return True, "no current model"
    champion = measured(current, "current model")
    worse = [
        f"{metric} {challenger[metric]} < {champion[metric]}"
        for metric in COMPARED
        if challenger[metric] < champion[metric] - tolerance
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
    return run_command("ml.promote", _main, argv)


def _main(argv: Sequence[str] | None) -> None:
    parser = CommandParser(prog="ml.promote", description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", required=True, help="The candidate artifact's folder.")
    parser.add_argument("--model_dir", required=True, help="Where the served model lives.")
    parser.add_argument("--candidate_metrics", required=True, type=_json_object)
    parser.add_argument("--current_metrics", type=_json_object)
    parser.add_argument(
        "--current_model", help="The model --current_metrics measured (default: --model_dir)."
    )
    parser.add_argument("--tolerance", type=float, default=0.0)
    args = parser.parse_args(argv)
    result = promote(
        args.candidate,
        args.model_dir,
        args.candidate_metrics,
        args.current_metrics,
        args.tolerance,
        args.current_model,
    )
    print(json.dumps(result))


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(text)
    return value


_json_object.__name__ = "JSON object"  # how argparse names the type in its message


if __name__ == "__main__":
    raise SystemExit(main())
