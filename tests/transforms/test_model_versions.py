"""Model versions effective by event time, on Beam's runners.

A run with a model version registered at T gives, record for record, the job's own model's
records before T and the new model's from T on, on the grouped and the stateful path, whether
the launcher shipped the artifact or the workers read it from its location. A version told
while the job runs (as the live job reads ``--rules_topic``) scores the same. A version whose
artifact cannot be loaded on a worker never stops it: its records keep their rules-only score,
and ``model_loads_failed`` counts it.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from ml.artifact import ArtifactFiles, load_artifact, read_artifact_files
from pipelines.options import FN_API_RUNNER
from pipelines.synthetic.dataset import GeneratorConfig, generate_events
from pipelines.train_default import train_model
from tests.collect import new_collector, take
from tests.factories import raw_record
from transforms.anomaly import ScoreAnomalies
from transforms.counters import MODEL_LOADS_FAILED, NAMESPACE
from transforms.domain.blacklist import EMPTY_BLACKLIST
from transforms.domain.config import default_rules
from transforms.domain.event_time import parse_timestamp
from transforms.domain.model_registry import ModelChange, encode_model_change
from transforms.domain.scoring_registry import ScoringRegistry
from transforms.fraud_detection import DetectFraud
from transforms.parse import ParseEvents
from transforms.parse_controls import ParseControls, rules_changes_input
from transforms.tags import ACCEPTED_TAG, EVENTS_TAG, SCORED_TAG

ZONE = "America/Sao_Paulo"
BASE = default_rules()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Two models trained on different histories: the job's own and the registered one."""
    folders = []
    for seed in (3, 4):
        folder = str(tmp_path_factory.mktemp(f"model{seed}"))
        train_model(folder, seed=seed, customers=150, days=10)
        folders.append(folder)
    return folders[0], folders[1]


@pytest.fixture(scope="module")
def records() -> list[tuple[str, bytes]]:
    dataset = generate_events(GeneratorConfig(seed=5, customers=40, days=20))
    shuffled = [raw_record(line, number) for number, line in enumerate(dataset.lines)]
    random.Random(5).shuffle(shuffled)
    return shuffled


def _registered(location: str, at_ms: int) -> ModelChange:
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


def _scored(
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


def _time(record: dict[str, Any]) -> int:
    return parse_timestamp(record["event_time"], None)


@pytest.mark.parametrize(
    ("grouped", "shards", "ship"), [(True, 0, True), (False, 0, False), (False, 4, False)]
)
def test_a_model_version_at_t_scores_from_t_on_and_the_jobs_model_before(
    models: tuple[str, str],
    records: list[tuple[str, bytes]],
    grouped: bool,
    shards: int,
    ship: bool,
) -> None:
    own, newer = models
    own_run, _ = _scored(records, own, ScoringRegistry.of(BASE), grouped, shards)
    times = sorted(_time(r) for r in own_run)
    at = times[len(times) // 2]
    change = _registered(newer, at)
    shipped = {change.reference(): read_artifact_files(newer)} if ship else None

    registry_run, counters = _scored(
        records, own, ScoringRegistry.of(BASE, (change,)), grouped, shards, shipped
    )
    newer_run, _ = _scored(records, newer, ScoringRegistry.of(BASE), grouped, shards)

    split = [r for r in own_run if _time(r) < at] + [r for r in newer_run if _time(r) >= at]
    assert registry_run == sorted(split, key=lambda r: r["transaction_id"])
    assert {r["model_version"] for r in registry_run if _time(r) >= at} == {change.model_version}
    own_version = load_artifact(own).model_version
    assert {r["model_version"] for r in registry_run if _time(r) < at} == {own_version}
    assert own_version != change.model_version
    # The change matters: the same events after T get other scores from the job's own model.
    after = [r for r in registry_run if _time(r) >= at]
    old = [r for r in own_run if _time(r) >= at]
    assert any(a["ml_score"] != b["ml_score"] for a, b in zip(after, old, strict=True))
    assert MODEL_LOADS_FAILED not in counters
    assert all("_model" not in r and "_blend" not in r for r in registry_run)


def test_a_model_version_told_while_the_job_runs_scores_as_one_given_up_front(
    models: tuple[str, str], records: list[tuple[str, bytes]]
) -> None:
    own, newer = models
    first, _ = _scored(records, own, ScoringRegistry.of(BASE), False, 3)
    at = sorted(_time(r) for r in first)[len(first) // 3]
    change = _registered(newer, at)
    given, _ = _scored(records, own, ScoringRegistry.of(BASE, (change,)), False, 3)
    told, _ = _scored(
        records,
        own,
        ScoringRegistry.of(BASE),
        False,
        3,
        told=[("test:rules", encode_model_change(change))] * 2,
    )
    assert told == given


def test_a_version_a_worker_cannot_load_keeps_the_rules_only_score_and_is_counted(
    models: tuple[str, str], records: list[tuple[str, bytes]], tmp_path: Path
) -> None:
    own, newer = models
    moved = tmp_path / "moved"
    shutil.copytree(newer, moved)
    change = _registered(str(moved), 0)
    replaced = ModelChange(
        change.model_version, "0" * 64, str(moved), 0, -1, "ana", "replaced artifact"
    )
    rules_only, _ = _scored(records[:200], None, ScoringRegistry.of(BASE), True)
    assert {r["model_version"] for r in rules_only} == {None}
    for unusable in (
        ModelChange(change.model_version, change.sha256, str(tmp_path / "gone"), 0, -1),
        replaced,
    ):
        scored, counters = _scored(records[:200], own, ScoringRegistry.of(BASE, (unusable,)), True)
        assert scored == rules_only
        assert counters[MODEL_LOADS_FAILED] >= 1
