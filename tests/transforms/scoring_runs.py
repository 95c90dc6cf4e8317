"""Runs of the detector and the model's step over one data set, with a registry of versions:
what the tests of model versions and of challengers compare."""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from ml.artifact import ArtifactFiles, load_artifact, read_artifact_files
from pipelines.options import FN_API_RUNNER
from tests.collect import new_collector, take
from transforms.anomaly import ScoreAnomalies
from transforms.counters import NAMESPACE
from transforms.domain.blacklist import EMPTY_BLACKLIST
from transforms.domain.config import default_rules
from transforms.domain.event_time import parse_timestamp
from transforms.domain.model_registry import ModelChange
from transforms.domain.scoring_registry import ScoringRegistry
from transforms.fraud_detection import DetectFraud
from transforms.parse import ParseEvents
from transforms.parse_controls import ParseControls, rules_changes_input
from transforms.tags import ACCEPTED_TAG, EVENTS_TAG, SCORED_TAG

ZONE = "America/Sao_Paulo"
BASE = default_rules()


def registered(location: str, at_ms: int) -> ModelChange:
    artifact = load_artifact(location)
    return ModelChange(
        artifact.model_version,
        artifact.metadata["model_sha256"],
        location,
        at_ms,
        at_ms - 3_600_000,
        "ana",
        "retrained",
    )


def score_run(
    records: list[tuple[str, bytes]],
    model: str | None,
    registry: ScoringRegistry,
    grouped: bool,
    shards: int = 0,
    shipped: dict[tuple[str, str, str], ArtifactFiles] | None = None,
    told: list[tuple[str, bytes]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    name, collect = new_collector()
    p = TestPipeline(runner=FN_API_RUNNER, options=PipelineOptions([]))
    parsed = p | "Events" >> beam.Create(records) | ParseEvents(ZONE, 1 << 20, "test")
    inputs = {"events": parsed[EVENTS_TAG]}
    if told is not None:
        changes = (
            p
            | "Told" >> beam.Create(told)
            | ParseControls(rules_changes_input(BASE), 1 << 20, "test")
        )
        inputs["rules_changes"] = changes[ACCEPTED_TAG]
    detected = inputs | DetectFraud(
        registry, ZONE, EMPTY_BLACKLIST, "test", grouped=grouped, customer_shards=shards
    )
    scored = detected[SCORED_TAG] | ScoreAnomalies(
        None if model is None else read_artifact_files(model), BASE, registered_models=shipped
    )
    scored | beam.Map(collect)
    result = p.run()
    result.wait_until_finish()
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    }
    return sorted(take(name), key=lambda r: r["transaction_id"]), counters


def event_time(record: dict[str, Any]) -> int:
    return parse_timestamp(record["event_time"], None)
