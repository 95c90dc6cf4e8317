"""ml.scorer and ml.artifact: exact numpy scoring, and refusal of unusable artifacts."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.ensemble._iforest import _average_path_length

from ml import scorer as scorer_module
from ml.artifact import METADATA_FILENAME, MODEL_FILENAME, ArtifactError, load_artifact
from ml.scorer import AnomalyScorer, average_path_length, load_scorer
from pipelines.synthetic import GeneratorConfig
from pipelines.train_default import generated_history, train_model
from transforms.domain.features import FEATURE_NAMES

SEED, CUSTOMERS, DAYS = 42, 150, 10
TOLERANCE = 1e-9
WARNING_SUFFIX = "ml_score is null, rules still score"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("model")
    train_model(str(directory), seed=SEED, customers=CUSTOMERS, days=DAYS)
    return directory


@pytest.fixture(scope="module")
def scorer(model_dir: Path) -> AnomalyScorer:
    loaded = load_scorer(str(model_dir))
    assert loaded is not None
    return loaded


@pytest.fixture(scope="module")
def real_features() -> npt.NDArray[np.float64]:
    _, history = generated_history(GeneratorConfig(seed=SEED + 1, customers=CUSTOMERS, days=DAYS))
    return history.features


@pytest.fixture
def copy_of(model_dir: Path, tmp_path: Path) -> Callable[[], Path]:
    def make() -> Path:
        return Path(shutil.copytree(model_dir, tmp_path / "artifact"))

    return make


def random_features(rows: int, seed: int) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    scale = np.array([5.0, 4.0, 4.0, 3000.0, 1.0, 5.0])
    shift = np.array([0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    features: npt.NDArray[np.float64] = (
        np.abs(rng.normal(size=(rows, len(FEATURE_NAMES)))) * scale + shift
    )
    features[:, 4] = rng.integers(0, 2, size=rows)  # is_blacklisted is 0 or 1
    return features


def rehash(directory: Path) -> None:
    """Make the metadata's checksum match whatever the model file now holds."""
    digest = hashlib.sha256((directory / MODEL_FILENAME).read_bytes()).hexdigest()
    edit_metadata(directory, lambda m: m.update(model_sha256=digest))


def edit_metadata(directory: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = directory / METADATA_FILENAME
    metadata = json.loads(path.read_text("utf-8"))
    change(metadata)
    path.write_text(json.dumps(metadata), "utf-8")


# ----------------------------------------------------------------------- numpy path


def test_numpy_path_is_the_default(scorer: AnomalyScorer) -> None:
    assert scorer.method == "numpy"
    assert scorer.model_version.startswith("iforest-")


@pytest.mark.parametrize("rows", [1, 7, 1024])
def test_numpy_path_equals_sklearn_on_random_rows(scorer: AnomalyScorer, rows: int) -> None:
    features = random_features(rows, seed=rows)
    numpy_raw = scorer.raw_scores(features, "numpy")
    sklearn_raw = scorer.raw_scores(features, "sklearn")
    assert numpy_raw.shape == (rows,)
    np.testing.assert_allclose(numpy_raw, sklearn_raw, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("rows", [1, 7, 1024])
def test_numpy_path_equals_sklearn_on_real_rows(
    scorer: AnomalyScorer, real_features: npt.NDArray[np.float64], rows: int
) -> None:
    # The most anomalous rows are included: they end on the shallowest leaves.
    order = np.argsort(scorer.raw_scores(real_features, "sklearn"))
    features = real_features[order[-rows:]]
    np.testing.assert_allclose(
        scorer.raw_scores(features, "numpy"),
        scorer.raw_scores(features, "sklearn"),
        rtol=0,
        atol=TOLERANCE,
    )


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 16), st.just(len(FEATURE_NAMES))),
        elements=st.floats(-1e6, 1e6, allow_nan=False),
    )
)
def test_numpy_path_equals_sklearn_on_any_finite_rows(
    scorer: AnomalyScorer, features: npt.NDArray[np.float64]
) -> None:
    np.testing.assert_allclose(
        scorer.raw_scores(features, "numpy"),
        scorer.raw_scores(features, "sklearn"),
        rtol=0,
        atol=TOLERANCE,
    )


def test_rows_with_nan_are_scored_by_sklearn(scorer: AnomalyScorer) -> None:
    features = random_features(5, seed=9)
    features[2, 3] = np.nan
    np.testing.assert_array_equal(
        scorer.raw_scores(features), scorer.raw_scores(features, "sklearn")
    )


def test_average_path_length_matches_sklearn() -> None:
    sizes = np.arange(0, 600)
    np.testing.assert_array_equal(average_path_length(sizes), _average_path_length(sizes))


# ------------------------------------------------------------------------ score_batch


def test_score_batch_takes_lists_and_arrays(
    scorer: AnomalyScorer, real_features: npt.NDArray[np.float64]
) -> None:
    batch = real_features[:64]
    from_array = scorer.score_batch(batch)
    from_lists = scorer.score_batch([list(map(float, row)) for row in batch])
    np.testing.assert_array_equal(from_array, from_lists)
    assert from_array.dtype == np.float64
    assert np.all((from_array >= 0.0) & (from_array <= 1.0))


def test_score_batch_of_nothing_is_empty(scorer: AnomalyScorer) -> None:
    assert scorer.score_batch([]).shape == (0,)
    assert scorer.score_batch(np.zeros((0, len(FEATURE_NAMES)))).shape == (0,)


def test_score_batch_refuses_the_wrong_shape(scorer: AnomalyScorer) -> None:
    with pytest.raises(ValueError, match="6 features"):
        scorer.score_batch([[1.0, 2.0]])


def test_scorer_survives_pickling(
    scorer: AnomalyScorer, real_features: npt.NDArray[np.float64]
) -> None:
    clone = pickle.loads(pickle.dumps(scorer))
    assert clone.model_version == scorer.model_version
    assert clone.method == "numpy"
    np.testing.assert_array_equal(
        clone.score_batch(real_features), scorer.score_batch(real_features)
    )


def test_a_numpy_path_that_disagrees_is_not_used(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    artifact = load_artifact(str(model_dir))
    monkeypatch.setattr(scorer_module, "_path_error", lambda model, forest: 1e-3)

    with caplog.at_level(logging.WARNING, logger="ml.scorer"):
        fallback = AnomalyScorer.from_artifact(artifact)
    assert fallback.method == "sklearn"
    assert "using scikit-learn" in caplog.text
    with pytest.raises(ValueError, match="differs"):
        AnomalyScorer.from_artifact(artifact, method="numpy")


def test_sklearn_method_can_be_chosen(model_dir: Path) -> None:
    chosen = AnomalyScorer.from_artifact(load_artifact(str(model_dir)), method="sklearn")
    assert chosen.method == "sklearn"
    assert chosen.score_batch(random_features(3, seed=1)).shape == (3,)


# ---------------------------------------------------------------------- bad artifacts


def assert_refused(directory: Path, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ArtifactError, match=reason):
        load_artifact(str(directory))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ml.scorer"):
        assert load_scorer(str(directory)) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert str(directory) in message
    assert reason in message
    assert WARNING_SUFFIX in message


def test_tampered_model_is_refused_for_its_checksum(
    copy_of: Callable[[], Path], caplog: pytest.LogCaptureFixture
) -> None:
    directory = copy_of()
    with (directory / MODEL_FILENAME).open("ab") as model:
        model.write(b"\0")
    assert_refused(directory, "checksum", caplog)


def test_mismatched_feature_names_are_refused(
    copy_of: Callable[[], Path], caplog: pytest.LogCaptureFixture
) -> None:
    directory = copy_of()
    edit_metadata(directory, lambda m: m.update(feature_names=list(reversed(FEATURE_NAMES))))
    assert_refused(directory, "feature names", caplog)


def test_missing_artifact_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert_refused(tmp_path / "nowhere", "cannot read the metadata", caplog)


def test_missing_model_file_is_refused(
    copy_of: Callable[[], Path], caplog: pytest.LogCaptureFixture
) -> None:
    directory = copy_of()
    (directory / MODEL_FILENAME).unlink()
    assert_refused(directory, "cannot read the model", caplog)


def test_corrupt_metadata_is_refused(
    copy_of: Callable[[], Path], caplog: pytest.LogCaptureFixture
) -> None:
    directory = copy_of()
    (directory / METADATA_FILENAME).write_text("{not json", "utf-8")
    assert_refused(directory, "not JSON", caplog)


def test_incomplete_metadata_is_refused(
    copy_of: Callable[[], Path], caplog: pytest.LogCaptureFixture
) -> None:
    directory = copy_of()
    edit_metadata(directory, lambda m: m.pop("calibration"))
    assert_refused(directory, "lacks calibration", caplog)


def test_degenerate_calibration_is_refused(
    copy_of: Callable[[], Path], caplog: pytest.LogCaptureFixture
) -> None:
    directory = copy_of()
    edit_metadata(directory, lambda m: m["calibration"].update(high=m["calibration"]["low"]))
    assert_refused(directory, "invalid calibration", caplog)


def test_a_model_that_no_longer_reproduces_its_scores_is_refused(
    copy_of: Callable[[], Path], caplog: pytest.LogCaptureFixture
) -> None:
    directory = copy_of()
    edit_metadata(
        directory,
        lambda m: m["reference"].update(raw_scores=[0.0] * len(m["reference"]["raw_scores"])),
    )
    assert_refused(directory, "reference scores", caplog)


def test_a_checksummed_file_that_is_not_a_model_is_refused(
    copy_of: Callable[[], Path], caplog: pytest.LogCaptureFixture
) -> None:
    directory = copy_of()
    joblib.dump({"not": "a model"}, directory / MODEL_FILENAME)
    rehash(directory)
    assert_refused(directory, "not a model", caplog)


def test_a_checksummed_file_that_does_not_unpickle_is_refused(
    copy_of: Callable[[], Path], caplog: pytest.LogCaptureFixture
) -> None:
    directory = copy_of()
    (directory / MODEL_FILENAME).write_bytes(b"garbage, not a pickle")
    rehash(directory)
    assert_refused(directory, "cannot unpickle", caplog)


def test_load_scorer_never_raises(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(directory: str) -> None:
        raise MemoryError("no room for trees")

    monkeypatch.setattr(scorer_module, "load_artifact", explode)
    with caplog.at_level(logging.WARNING, logger="ml.scorer"):
        assert load_scorer(str(model_dir)) is None
    assert "no room for trees" in caplog.text


def test_no_model_configured_is_quiet(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ml.scorer"):
        assert load_scorer(None) is None
    assert caplog.records == []
