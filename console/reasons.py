"""The model's reasons for an alert: as the pipeline stored them, or computed on demand.

An alert scored by a model carries the model's inputs and its top reasons (ml/reasons.py).
With the model the console is given (``STREAMFLOW_CONSOLE_MODEL``, a model folder), the
reasons are computed again from the stored inputs: for alerts written before reasons were
stored, and to check that the stored ones are the model's (the same numbers either way). Only
the model that scored the alert may explain it: another version's reasons would be wrong.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

from ml.reasons import Explainer, explainer_for, top_reasons
from ml.scorer import Scorer, load_scorer

_LOCK = threading.Lock()


@cache
def _loaded(model: str) -> tuple[Scorer, Explainer] | None:
    scorer = load_scorer(model)
    return None if scorer is None else (scorer, explainer_for(scorer))


def loaded(model: str) -> tuple[Scorer, Explainer] | None:
    with _LOCK:  # one load per model, however many requests ask at once
        return _loaded(model)


def recomputed(evidence: dict[str, Any], model: str | None) -> dict[str, Any] | None:
    """The reasons computed now from the alert's inputs, or ``None`` when the console has no
    model, another version than the alert's, or the alert no inputs."""
    inputs = evidence.get("model_inputs")
    if not model or not inputs:
        return None
    found = loaded(model)
    if found is None:
        return None
    scorer, explainer = found
    if scorer.model_version != evidence.get("model_version"):
        return None
    if set(inputs) != set(scorer.feature_names):  # jsonb keeps no key order: match by name
        return None
    row = [float(inputs[name]) for name in scorer.feature_names]
    return top_reasons(explainer, scorer.feature_names, [row])[0]


def reasons(
    evidence: dict[str, Any] | None, model: str | None
) -> tuple[dict[str, Any] | None, str]:
    """The reasons to show and where they come from: ``pipeline``, ``on demand`` or ``none``."""
    if evidence is None:
        return None, "none"
    if evidence.get("model_reasons"):
        return evidence["model_reasons"], "pipeline"
    again = recomputed(evidence, model)
    return (again, "on demand") if again else (None, "none")
