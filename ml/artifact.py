"""The model's artifact on disk: ``model.joblib`` plus ``metadata.json``, verified.

Two kinds (``model_kind`` in the metadata; an artifact without one is the first): the
unsupervised ``isolation_forest`` (``ml.train``), whose raw score is ``-decision_function`` on
the six anomaly features and is calibrated to [0, 1]; and a ``supervised`` classifier trained
on confirmed fraud (``ml.supervised``), whose score is its fraud probability on the features,
store counts and rule scores of a scored record (``SUPERVISED_FEATURE_NAMES``).

A model is only usable together with the facts that make its scores meaningful: the ordered
feature names it was trained on, the calibration that maps its raw anomaly score to [0, 1],
and the SHA-256 of the pickled model. ``write_artifact`` writes both files atomically (model
first, so a reader never pairs new metadata with an old model); ``load_artifact`` refuses,
with an :class:`ArtifactError` saying why, anything that is missing, corrupt, tampered with,
trained on other features, or that no longer reproduces the reference scores recorded at
training time (for example after an incompatible scikit-learn upgrade).

The checksum detects corruption and accidental mix-ups, not an attacker: whoever can write
the folder can write both files, and unpickling runs code. Load models from trusted places.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt

from transforms.domain.features import FEATURE_NAMES, SUPERVISED_FEATURE_NAMES

__all__ = [
    "METADATA_FILENAME",
    "MODEL_FILENAME",
    "ArtifactError",
    "ArtifactFiles",
    "ArtifactPaths",
    "Calibration",
    "LoadedArtifact",
    "load_artifact",
    "read_artifact_files",
    "sha256_hex",
    "write_artifact",
]

MODEL_FILENAME = "model.joblib"
METADATA_FILENAME = "metadata.json"
FORMAT_VERSION = 1
# Reference scores recomputed at load must agree this closely with the ones saved at training.
REFERENCE_TOLERANCE = 1e-9
ISOLATION_FOREST = "isolation_forest"
SUPERVISED = "supervised"
MODEL_KINDS = (ISOLATION_FOREST, SUPERVISED)
REQUIRED_FIELDS = (
    "format_version",
    "model_version",
    "feature_names",
    "library_versions",
    "training_data_sha256",
    "training",
    "calibration",
    "model_sha256",
    "created_at",
    "reference",
)
# What each kind reads, and what else its metadata must say.
KIND_FEATURES = {ISOLATION_FOREST: FEATURE_NAMES, SUPERVISED: SUPERVISED_FEATURE_NAMES}
KIND_FIELDS = {ISOLATION_FOREST: ("contamination", "n_estimators"), SUPERVISED: ("algorithm",)}
_VERSION_PREFIX = {ISOLATION_FOREST: "iforest", SUPERVISED: "supervised"}


class ArtifactError(Exception):
    """The artifact cannot be used; ``message`` says which file and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class ArtifactPaths:
    directory: str
    model: str
    metadata: str
    model_version: str


@dataclass(frozen=True, slots=True)
class Calibration:
    """``ml_score = clip((raw - low) / (high - low), 0, 1)``, ``raw = -decision_function``.

    ``low`` and ``high`` are percentiles of the raw scores of the training data (see
    ``ml.train``), so the mapping follows the model instead of being hard-coded.
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.high > self.low):
            raise ValueError(f"calibration needs finite low < high, got {self.low}, {self.high}")

    def apply(self, raw: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        scaled = (raw - self.low) / (self.high - self.low)
        return np.clip(scaled, 0.0, 1.0)


@dataclass(frozen=True, slots=True, eq=False)
class LoadedArtifact:
    """A verified artifact: the fitted ``IsolationForest`` and its metadata."""

    source: str
    model: Any  # sklearn.ensemble.IsolationForest (scikit-learn is untyped)
    metadata: dict[str, Any]
    calibration: Calibration

    @property
    def model_version(self) -> str:
        return str(self.metadata["model_version"])

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.metadata["feature_names"])

    @property
    def kind(self) -> str:
        return str(self.metadata.get("model_kind", ISOLATION_FOREST))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_version_of(model_sha256: str, kind: str = ISOLATION_FOREST) -> str:
    return f"{_VERSION_PREFIX[kind]}-{model_sha256[:12]}"


def raw_anomaly_scores(model: Any, features: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """scikit-learn's raw anomaly score, higher = more anomalous (``-decision_function``)."""
    decision: npt.NDArray[np.float64] = model.decision_function(features)
    return -decision


def fraud_probabilities(model: Any, features: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """A supervised classifier's probability of the fraud class (label 1)."""
    probabilities: npt.NDArray[np.float64] = model.predict_proba(features)[:, 1]
    return probabilities


def raw_scores(kind: str, model: Any, features: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The kind's raw score, the one its calibration and reference rows are in."""
    if kind == SUPERVISED:
        return fraud_probabilities(model, features)
    return raw_anomaly_scores(model, features)


# Raw-score quantiles whose training rows are saved as reference points (``_check_reference``).
REFERENCE_QUANTILES = (0.0, 0.25, 0.5, 0.75, 0.9, 0.98, 0.99, 0.999, 1.0)


def reference_rows(
    features: npt.NDArray[np.float64], raw: npt.NDArray[np.float64]
) -> dict[str, list[Any]]:
    """Training rows spread over the raw-score range, with the raw scores they gave: the
    metadata's ``reference``, which a load recomputes to catch library drift."""
    order = np.argsort(raw, kind="stable")
    picks = sorted({int(order[round(q * (len(order) - 1))]) for q in REFERENCE_QUANTILES})
    return {
        "features": [[float(v) for v in features[i]] for i in picks],
        "raw_scores": [float(raw[i]) for i in picks],
    }


def write_artifact(output_dir: str, model: Any, metadata: dict[str, Any]) -> ArtifactPaths:
    """Pickle ``model`` and write ``metadata`` completed with the checksum and version."""
    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    model_bytes = buffer.getvalue()
    digest = sha256_hex(model_bytes)
    complete = {
        "format_version": FORMAT_VERSION,
        **metadata,
        "model_sha256": digest,
        "model_version": model_version_of(digest, metadata.get("model_kind", ISOLATION_FOREST)),
    }
    model_path = directory / MODEL_FILENAME
    metadata_path = directory / METADATA_FILENAME
    _atomic_write(model_path, model_bytes)
    text = json.dumps(complete, indent=2, sort_keys=True) + "\n"
    _atomic_write(metadata_path, text.encode("utf-8"))
    return ArtifactPaths(
        str(directory), str(model_path), str(metadata_path), complete["model_version"]
    )


def _atomic_write(path: Path, data: bytes) -> None:
    # A worker loading the artifact while it is rewritten sees the old or the new file, whole.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@dataclass(frozen=True, slots=True)
class ArtifactFiles:
    """The artifact's two files as read, unverified: what a pipeline ships to its workers.

    Carrying the bytes (not a path) inside the pipeline means a worker never needs the
    launcher's file system: the same job runs on a laptop, a Flink cluster or Kubernetes.
    """

    source: str
    metadata: bytes
    model: bytes


def read_artifact_files(location: str, read: Callable[[str], bytes] | None = None) -> ArtifactFiles:
    """Both files of the artifact at ``location``; ``read`` opens other file systems (URIs)."""
    reader = read or _read_local
    files = []
    for name, what in ((METADATA_FILENAME, "metadata"), (MODEL_FILENAME, "model")):
        path = f"{location.rstrip('/')}/{name}"
        try:
            files.append(reader(path))
        except (OSError, ValueError) as error:  # ValueError: no filesystem for the scheme
            reason = getattr(error, "strerror", None) or str(error)
            raise ArtifactError(f"{path}: cannot read the {what}: {reason}") from None
    return ArtifactFiles(location, files[0], files[1])


def _read_local(path: str) -> bytes:
    return Path(path).read_bytes()


def load_artifact(source: str | ArtifactFiles) -> LoadedArtifact:
    """Verify the artifact (a folder, or files already read); :class:`ArtifactError` if unusable."""
    files = source if isinstance(source, ArtifactFiles) else read_artifact_files(source)
    metadata_path = f"{files.source.rstrip('/')}/{METADATA_FILENAME}"
    model_path = f"{files.source.rstrip('/')}/{MODEL_FILENAME}"
    metadata = _parse_metadata(metadata_path, files.metadata)
    digest = sha256_hex(files.model)
    if digest != metadata["model_sha256"]:
        raise ArtifactError(
            f"{model_path}: SHA-256 checksum mismatch (file {digest[:12]}..., metadata "
            f"{str(metadata['model_sha256'])[:12]}...): corrupt or replaced model"
        )
    kind = metadata.get("model_kind", ISOLATION_FOREST)
    expected = KIND_FEATURES[kind]
    names = tuple(metadata["feature_names"]) if isinstance(metadata["feature_names"], list) else ()
    if names != expected:
        raise ArtifactError(
            f"{metadata_path}: feature names {list(names) or metadata['feature_names']!r} "
            f"do not match this code's {list(expected)!r}"
        )
    try:
        model = joblib.load(io.BytesIO(files.model))
    except Exception as error:  # unpickling can fail in many ways; all mean "unusable"
        raise ArtifactError(f"{model_path}: cannot unpickle the model: {error!r}") from None
    scores = "predict_proba" if kind == SUPERVISED else "decision_function"
    if getattr(model, "n_features_in_", None) != len(expected) or not hasattr(model, scores):
        raise ArtifactError(
            f"{model_path}: not a model fitted on {len(expected)} features (kind {kind})"
        )
    calibration = _calibration(metadata_path, metadata["calibration"])
    _check_reference(metadata_path, kind, model, metadata["reference"])
    return LoadedArtifact(files.source, model, metadata, calibration)


def _parse_metadata(path: str, data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ArtifactError(f"{path}: metadata is not UTF-8") from None
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as error:
        raise ArtifactError(f"{path}: metadata is not JSON: {error}") from None
    if not isinstance(metadata, dict):
        raise ArtifactError(f"{path}: metadata is not a JSON object")
    kind = metadata.get("model_kind", ISOLATION_FOREST)
    if kind not in MODEL_KINDS:
        raise ArtifactError(f"{path}: unknown model_kind {kind!r}")
    missing = [name for name in (*REQUIRED_FIELDS, *KIND_FIELDS[kind]) if name not in metadata]
    if missing:
        raise ArtifactError(f"{path}: metadata lacks {', '.join(missing)}")
    if metadata["format_version"] != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: metadata format {metadata['format_version']!r} is not {FORMAT_VERSION}"
        )
    return metadata


def _calibration(path: str, value: Any) -> Calibration:
    try:
        return Calibration(float(value["low"]), float(value["high"]))
    except (TypeError, KeyError, ValueError) as error:
        raise ArtifactError(f"{path}: invalid calibration {value!r}: {error}") from None


def _check_reference(path: str, kind: str, model: Any, reference: Any) -> None:
    """The model must still give the raw scores it gave when it was trained."""
    try:
        features = np.asarray(reference["features"], dtype=np.float64)
        expected = np.asarray(reference["raw_scores"], dtype=np.float64)
        actual = raw_scores(kind, model, features)
    except Exception as error:  # malformed reference block or a model that cannot score
        raise ArtifactError(f"{path}: cannot check the reference scores: {error!r}") from None
    if actual.shape != expected.shape or not np.allclose(
        actual, expected, rtol=0.0, atol=REFERENCE_TOLERANCE
    ):
        raise ArtifactError(
            f"{path}: the model no longer reproduces its reference scores (library drift?)"
        )
