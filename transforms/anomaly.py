"""ScoreAnomalies: the Isolation Forest's verdict (FR-006), blended into each scored record.

The model travels inside the pipeline as the artifact's bytes (``ml.artifact.ArtifactFiles``,
read by the launcher), so workers on any runner get exactly the model the job was built with
and never need the launcher's files. It is verified and loaded once per worker (``setup``) and
scores *batches* of records in one vectorised call: per-event calls to a tree ensemble cost
~12 ms each (docs/runners/direct.md, "ML scoring cost"). Without
a model, or with an unusable one (one warning at load), records keep their rules-only score
and ``ml_score`` is null. Every record passes through here, so this is where the ``scored``
and ``alerts`` counters live.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.counters import ALERTS, NAMESPACE, SCORED
from transforms.domain.config import RulesConfig
from transforms.domain.features import model_inputs
from transforms.domain.outputs import BLEND_FIELD, apply_anomaly_score

if TYPE_CHECKING:  # numpy and joblib come with it: import them only where a model is used
    from ml.artifact import ArtifactFiles

MAX_BATCH = 1024


class _ScoreBatchFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self, model: ArtifactFiles | None, rules: RulesConfig) -> None:
        self._model = model
        self._rules = rules
        self._scored = Metrics.counter(NAMESPACE, SCORED)
        self._alerts = Metrics.counter(NAMESPACE, ALERTS)

    def setup(self) -> None:
        self._scorer: Any = None
        self._explainer: Any = None
        if self._model is not None:
            # Imported only when a model is used: numpy and scikit-learn are heavy imports.
            from ml.reasons import explainer_for, top_reasons
            from ml.scorer import load_scorer

            self._scorer = load_scorer(self._model)
            self._top_reasons = top_reasons
            if self._scorer is not None:
                self._explainer = explainer_for(self._scorer)

    def process(self, batch: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        rules, scorer = self._rules, self._scorer
        matrix: list[list[float]] = []
        if scorer is None:
            scores: list[float | None] = [None] * len(batch)
            version = None
        else:
            matrix = [model_inputs(record, scorer.feature_names) for record in batch]
            scores = [float(score) for score in scorer.score_batch(matrix)]
            version = scorer.model_version
        # A model that learnt from confirmed fraud has earned more say than an anomaly score.
        supervised = scorer is not None and scorer.kind == "supervised"
        outputs = []
        for record, ml_score in zip(batch, scores, strict=True):
            # Each record by the rules version that scored it (transforms.domain.rules_registry).
            alpha, supervised_alpha, ml_threshold, alert_threshold = (
                record.get(BLEND_FIELD) or rules.blend
            )
            outputs.append(
                apply_anomaly_score(
                    record,
                    ml_score,
                    model_version=version,
                    alpha=supervised_alpha if supervised else alpha,
                    ml_threshold=ml_threshold,
                    alert_threshold=alert_threshold,
                )
            )
        if matrix:
            self._explain_alerts(outputs, matrix)
        self._scored.inc(len(outputs))
        self._alerts.inc(sum(1 for scored in outputs if scored["is_alert"]))
        yield from outputs

    def _explain_alerts(self, outputs: list[dict[str, Any]], matrix: list[list[float]]) -> None:
        """The model's inputs and top reasons on each alert, in one pass over the alerts: the
        analyst's "why" (ml.reasons), recomputable from the inputs the alert carries."""
        alerts = [i for i, scored in enumerate(outputs) if scored["is_alert"]]
        if not alerts:
            return
        names = self._scorer.feature_names
        reasons = self._top_reasons(self._explainer, names, [matrix[i] for i in alerts])
        for i, explained in zip(alerts, reasons, strict=True):
            outputs[i]["model_inputs"] = dict(zip(names, matrix[i], strict=True))
            outputs[i]["model_reasons"] = explained


class ScoreAnomalies(beam.PTransform):  # type: ignore[misc]
    """Rule-scored records in; records with ``ml_score``, FR-006 and the blended score out."""

    def __init__(
        self, model: ArtifactFiles | None, rules: RulesConfig, max_batch_size: int = MAX_BATCH
    ) -> None:
        super().__init__()
        self._fn = _ScoreBatchFn(model, rules)
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
