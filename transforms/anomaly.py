"""ScoreAnomalies: the anomaly model's verdict (FR-006), blended into each scored record.

The job's own model travels inside the pipeline as the artifact's bytes
(``ml.artifact.ArtifactFiles``, read by the launcher), so workers on any runner get exactly the
model the job was built with and never need the launcher's files. A registered model version
(:mod:`transforms.domain.model_registry`) scores the records the customer step marked with it
(``MODEL_FIELD``): its bytes shipped with the job when the launcher knew it (``--rules_changes``),
else read by the worker from its location on any Beam file system, checked against its SHA-256,
and kept for the next records. Each is verified and loaded once per worker, and scores
*batches* of records in one vectorised call: per-event calls to a tree ensemble cost ~12 ms each
(docs/runners/direct.md, "ML scoring cost"). Without a model, or with an unusable one (one
warning and ``model_loads_failed``), records keep their rules-only score and ``ml_score`` is
null. Every record passes through here, so this is where the ``scored`` and ``alerts``
counters live.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.counters import ALERTS, MODEL_LOADS_FAILED, NAMESPACE, SCORED
from transforms.domain.config import RulesConfig
from transforms.domain.features import model_inputs
from transforms.domain.outputs import (
    BLEND_FIELD,
    CHALLENGER_FIELD,
    MODEL_FIELD,
    SHADOW_FIELD,
    apply_anomaly_score,
    apply_challenger_score,
)
from transforms.read import read_bytes

if TYPE_CHECKING:  # numpy and joblib come with it: import them only where a model is used
    from ml.artifact import ArtifactFiles

MAX_BATCH = 1024
# Registered versions kept loaded per worker: late events and replays reach back a few.
MAX_LOADED_VERSIONS = 8
# A version that failed to load is tried again after this long (a file system's outage).
RETRY_LOAD_S = 60.0
ModelReference = tuple[str, str, str]  # (model_version, location, sha256)
_LOG = logging.getLogger(__name__)


class _Model:
    """A loaded scorer and its explainer."""

    def __init__(self, scorer: Any) -> None:
        from ml.reasons import explainer_for, top_reasons

        self.scorer = scorer
        self.explainer = explainer_for(scorer)
        self.top_reasons = top_reasons
        # A model that learnt from confirmed fraud has earned more say than an anomaly score.
        self.supervised = scorer.kind == "supervised"


def _loaded(files: ArtifactFiles | None) -> _Model | None:
    from ml.scorer import load_scorer

    scorer = load_scorer(files)
    return None if scorer is None else _Model(scorer)


def _shadow_inputs(record: dict[str, Any]) -> dict[str, Any]:
    """What a model reads of the record as the challenger's rules scored it."""
    details = record[SHADOW_FIELD][2]
    if details is None:
        return record
    return {"ml_features": record["ml_features"], "rule_details": details}


class _ScoreBatchFn(beam.DoFn):  # type: ignore[misc]
    def __init__(
        self,
        model: ArtifactFiles | None,
        rules: RulesConfig,
        registered: dict[ModelReference, ArtifactFiles] | None = None,
    ) -> None:
        self._model = model
        self._rules = rules
        self._registered = dict(registered or {})
        self._scored = Metrics.counter(NAMESPACE, SCORED)
        self._alerts = Metrics.counter(NAMESPACE, ALERTS)
        self._load_failures = Metrics.counter(NAMESPACE, MODEL_LOADS_FAILED)

    def setup(self) -> None:
        # Imported only when a model is used: numpy and scikit-learn are heavy imports.
        self._base = _loaded(self._model) if self._model is not None else None
        self._versions: OrderedDict[ModelReference, _Model] = OrderedDict()
        self._failed_at: dict[ModelReference, float] = {}

    def _model_for(self, reference: ModelReference | None) -> _Model | None:
        """The job's model (None) or a registered version, loaded once; None if unusable."""
        if reference is None:
            return self._base
        loaded = self._versions.get(reference)
        if loaded is not None:
            self._versions.move_to_end(reference)
            return loaded
        failed_at = self._failed_at.get(reference)
        if failed_at is not None and time.monotonic() - failed_at < RETRY_LOAD_S:
            return None
        loaded = self._load(reference)
        if loaded is None:
            self._failed_at[reference] = time.monotonic()
            self._load_failures.inc()
            return None
        self._failed_at.pop(reference, None)
        self._versions[reference] = loaded
        if len(self._versions) > MAX_LOADED_VERSIONS:
            self._versions.popitem(last=False)
        return loaded

    def _load(self, reference: ModelReference) -> _Model | None:
        from ml.artifact import ArtifactError, read_artifact_files, sha256_hex

        version, location, sha256 = reference
        try:
            files = self._registered.get(reference) or read_artifact_files(location, read_bytes)
        except ArtifactError as error:
            _LOG.warning("model version %s not loaded: %s", version, error.message)
            return None
        except Exception as error:  # a file system's own failure (credentials, say)
            _LOG.warning("model version %s not loaded from %s: %r", version, location, error)
            return None
        if sha256_hex(files.model) != sha256:
            _LOG.warning(
                "model version %s not loaded: %s holds another model than the registered %s...",
                version,
                location,
                sha256[:12],
            )
            return None
        try:
            loaded = _loaded(files)
        except Exception as error:  # never stop a worker over a model (the explainer, say)
            _LOG.warning("model version %s not loaded: %r", version, error)
            return None
        if loaded is None:
            return None
        if loaded.scorer.model_version != version:
            _LOG.warning("model version %s not loaded: %s holds another", version, location)
            return None
        return loaded

    def process(self, batch: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        # Records of one batch may name different model versions: one vectorised call each.
        groups: dict[ModelReference | None, list[int]] = {}
        shadowed: list[tuple[int, ModelReference | None]] = []
        for index, record in enumerate(batch):
            named = record.get(MODEL_FIELD)
            reference = None if named is None else tuple(named)
            groups.setdefault(reference, []).append(index)
            if SHADOW_FIELD in record:
                shadowed.append((index, reference))
        outputs: list[dict[str, Any]] = [{}] * len(batch)
        for reference, indices in groups.items():
            self._score_group(batch, indices, self._model_for(reference), outputs)
        if shadowed:
            self._score_challengers(batch, shadowed, outputs)
        self._scored.inc(len(outputs))
        self._alerts.inc(sum(1 for scored in outputs if scored["is_alert"]))
        yield from outputs

    def _score_group(
        self,
        batch: list[dict[str, Any]],
        indices: list[int],
        model: _Model | None,
        outputs: list[dict[str, Any]],
    ) -> None:
        rules = self._rules
        matrix: list[list[float]] = []
        if model is None:
            scores: list[float | None] = [None] * len(indices)
            version = None
        else:
            names = model.scorer.feature_names
            matrix = [model_inputs(batch[i], names) for i in indices]
            scores = [float(score) for score in model.scorer.score_batch(matrix)]
            version = model.scorer.model_version
        supervised = model is not None and model.supervised
        for i, ml_score in zip(indices, scores, strict=True):
            record = batch[i]
            # Each record by the rules version that scored it (transforms.domain.rules_registry).
            alpha, supervised_alpha, ml_threshold, alert_threshold = (
                record.get(BLEND_FIELD) or rules.blend
            )
            outputs[i] = apply_anomaly_score(
                record,
                ml_score,
                model_version=version,
                alpha=supervised_alpha if supervised else alpha,
                ml_threshold=ml_threshold,
                alert_threshold=alert_threshold,
            )
        if model is not None:
            self._explain_alerts(model, [outputs[i] for i in indices], matrix)

    def _score_challengers(
        self,
        batch: list[dict[str, Any]],
        shadowed: list[tuple[int, ModelReference | None]],
        outputs: list[dict[str, Any]],
    ) -> None:
        """Each challenger's verdict with its model's score (the champion's model where no
        model challenges it), from its own rules' details: never an alert."""
        groups: dict[ModelReference | None, list[int]] = {}
        for i, champions_model in shadowed:
            challenger_model = batch[i][SHADOW_FIELD][1]
            reference = champions_model if challenger_model is None else tuple(challenger_model)
            groups.setdefault(reference, []).append(i)
        for reference, indices in groups.items():
            model = self._model_for(reference)
            scores: list[float | None] = [None] * len(indices)
            if model is not None:
                names = model.scorer.feature_names
                matrix = [model_inputs(_shadow_inputs(batch[i]), names) for i in indices]
                scores = [float(score) for score in model.scorer.score_batch(matrix)]
            version = None if model is None else model.scorer.model_version
            for i, ml_score in zip(indices, scores, strict=True):
                alpha, supervised_alpha, ml_threshold, alert_threshold = batch[i][SHADOW_FIELD][0]
                outputs[i][CHALLENGER_FIELD] = apply_challenger_score(
                    batch[i][CHALLENGER_FIELD],
                    ml_score,
                    model_version=version,
                    alpha=supervised_alpha if model is not None and model.supervised else alpha,
                    ml_threshold=ml_threshold,
                    alert_threshold=alert_threshold,
                )

    def _explain_alerts(
        self, model: _Model, outputs: list[dict[str, Any]], matrix: list[list[float]]
    ) -> None:
        """The model's inputs and top reasons on each alert, in one pass over the alerts: the
        analyst's "why" (ml.reasons), recomputable from the inputs the alert carries."""
        alerts = [i for i, scored in enumerate(outputs) if scored["is_alert"]]
        if not alerts:
            return
        names = model.scorer.feature_names
        reasons = model.top_reasons(model.explainer, names, [matrix[i] for i in alerts])
        for i, explained in zip(alerts, reasons, strict=True):
            outputs[i]["model_inputs"] = dict(zip(names, matrix[i], strict=True))
            outputs[i]["model_reasons"] = explained


class ScoreAnomalies(beam.PTransform):  # type: ignore[misc]
    """Rule-scored records in; records with ``ml_score``, FR-006 and the blended score out."""

    def __init__(
        self,
        model: ArtifactFiles | None,
        rules: RulesConfig,
        max_batch_size: int = MAX_BATCH,
        registered_models: dict[ModelReference, ArtifactFiles] | None = None,
    ) -> None:
        super().__init__()
        self._fn = _ScoreBatchFn(model, rules, registered_models)
        self._max_batch_size = max_batch_size

    def expand(self, records: Any) -> Any:
        return (
            records
            # Plain BatchElements: a max_batch_duration_secs would add a processing-time timer,
            # which forces the bundle-based runner (docs/runners/direct.md, "Beam constraints that
            # shape the code"; apache/beam#28716).
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._max_batch_size)
            | "ScoreBatch" >> beam.ParDo(self._fn)
        )
