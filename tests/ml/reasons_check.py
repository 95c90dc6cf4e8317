"""What every pipeline run with a model must show: each alert carries the model's inputs and
top reasons, the same numbers ml.reasons computes again from those inputs; other records
carry none."""

from __future__ import annotations

from pathlib import Path

from ml.reasons import explainer_for, top_reasons
from ml.scorer import load_scorer
from tests.output_files import read_records


def assert_alerts_explained(out: Path, model: str) -> int:
    """How many alerts were checked (at least one)."""
    scorer = load_scorer(model)
    assert scorer is not None
    explainer = explainer_for(scorer)
    alerts = read_records(out, "alerts")
    assert alerts
    for alert in alerts:
        inputs = alert["model_inputs"]
        assert list(inputs) == list(scorer.feature_names)
        again = top_reasons(explainer, scorer.feature_names, [list(inputs.values())])[0]
        assert alert["model_reasons"] == again
        assert again["reasons"]
    assert all(
        "model_reasons" not in record
        for record in read_records(out, "scored")
        if not record["is_alert"]
    )
    return len(alerts)
