"""Model versions effective by event time, on Beam's runners.

A run with a model version registered at T gives, record for record, the job's own model's
records before T and the new model's from T on, on the grouped and the stateful path, whether
the launcher shipped the artifact or the workers read it from its location. A version told
while the job runs (as the live job reads ``--rules_topic``) scores the same. A version whose
artifact cannot be loaded on a worker never stops it: its records keep their rules-only score,
and ``model_loads_failed`` counts it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ml.artifact import load_artifact, read_artifact_files
from tests.transforms.scoring_runs import (
    BASE,
    event_time,
    registered,
    score_run,
)
from transforms.counters import MODEL_LOADS_FAILED
from transforms.domain.model_registry import ModelChange, encode_model_change
from transforms.domain.scoring_registry import ScoringRegistry


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
    own_run, _ = score_run(records, own, ScoringRegistry.of(BASE), grouped, shards)
    times = sorted(event_time(r) for r in own_run)
    at = times[len(times) // 2]
    change = registered(newer, at)
    shipped = {change.reference(): read_artifact_files(newer)} if ship else None

    registry_run, counters = score_run(
        records, own, ScoringRegistry.of(BASE, (change,)), grouped, shards, shipped
    )
    newer_run, _ = score_run(records, newer, ScoringRegistry.of(BASE), grouped, shards)

    split = [r for r in own_run if event_time(r) < at] + [
        r for r in newer_run if event_time(r) >= at
    ]
    assert registry_run == sorted(split, key=lambda r: r["transaction_id"])
    assert {r["model_version"] for r in registry_run if event_time(r) >= at} == {
        change.model_version
    }
    own_version = load_artifact(own).model_version
    assert {r["model_version"] for r in registry_run if event_time(r) < at} == {own_version}
    assert own_version != change.model_version
    # The change matters: the same events after T get other scores from the job's own model.
    after = [r for r in registry_run if event_time(r) >= at]
    old = [r for r in own_run if event_time(r) >= at]
    assert any(a["ml_score"] != b["ml_score"] for a, b in zip(after, old, strict=True))
    assert MODEL_LOADS_FAILED not in counters
    assert all("_model" not in r and "_blend" not in r for r in registry_run)


def test_a_model_version_told_while_the_job_runs_scores_as_one_given_up_front(
    models: tuple[str, str], records: list[tuple[str, bytes]]
) -> None:
    own, newer = models
    first, _ = score_run(records, own, ScoringRegistry.of(BASE), False, 3)
    at = sorted(event_time(r) for r in first)[len(first) // 3]
    change = registered(newer, at)
    given, _ = score_run(records, own, ScoringRegistry.of(BASE, (change,)), False, 3)
    told, _ = score_run(
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
    change = registered(str(moved), 0)
    replaced = ModelChange(
        change.model_version, "0" * 64, str(moved), 0, -1, "ana", "replaced artifact"
    )
    rules_only, _ = score_run(records[:200], None, ScoringRegistry.of(BASE), True)
    assert {r["model_version"] for r in rules_only} == {None}
    for unusable in (
        ModelChange(change.model_version, change.sha256, str(tmp_path / "gone"), 0, -1),
        replaced,
    ):
        scored, counters = score_run(
            records[:200], own, ScoringRegistry.of(BASE, (unusable,)), True
        )
        assert scored == rules_only
        assert counters[MODEL_LOADS_FAILED] >= 1


def test_a_job_without_a_model_of_its_own_scores_and_explains_with_a_registered_one(
    models: tuple[str, str], records: list[tuple[str, bytes]]
) -> None:
    """As a live job started with --no_model learns a model version from the topic: the
    worker reads it from its location, and its alerts are explained as the job's own model's."""
    _, newer = models
    change = registered(newer, 0)
    run, counters = score_run(records, None, ScoringRegistry.of(BASE, (change,)), False, 2)
    assert {r["model_version"] for r in run} == {change.model_version}
    alerts = [r for r in run if r["is_alert"] and r["ml_score"] is not None]
    assert alerts
    assert all(r["model_reasons"] and r["model_inputs"] for r in alerts)
    assert MODEL_LOADS_FAILED not in counters
