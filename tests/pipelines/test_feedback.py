"""Confirmed outcomes (``--feedback``) through the whole pipeline: each counts from its report
time, never before, whatever order the files are in, on both detector paths."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from pipelines.fraud import run
from pipelines.synthetic import generate_dataset
from tests.output_files import read_records
from transforms.domain.event_time import parse_timestamp


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # Two days' reporting delay so that the reports land inside the 14 days generated.
    return generate_dataset(
        str(tmp_path_factory.mktemp("data")),
        seed=5,
        customers=150,
        days=14,
        feedback_delay_days=2,
    )


def _shuffled_copy(source: str, target: Path, seed: int, keep: Any = None) -> str:
    lines = Path(source).read_bytes().splitlines(keepends=True)
    if keep is not None:
        lines = [line for line in lines if keep(line)]
    random.Random(seed).shuffle(lines)
    target.write_bytes(b"".join(lines))
    return str(target)


def _run(events: str, feedback: str, out: Path, *extra: str) -> dict[str, Any]:
    summary = run(
        [
            f"--input={events}",
            f"--feedback={feedback}",
            f"--output_dir={out}",
            "--no_model",
            *extra,
        ]
    )
    scored = {r["transaction_id"]: r for r in read_records(out, "scored")}
    return {"summary": summary, "scored": scored}


def _reported_at(line: bytes) -> int:
    return parse_timestamp(json.loads(line)["reported_at"], None)


def test_no_score_depends_on_feedback_reported_after_the_event(
    dataset: Any, tmp_path: Path
) -> None:
    reports = sorted(
        _reported_at(line) for line in Path(dataset.feedback).read_bytes().splitlines()
    )
    cutoff = reports[len(reports) // 2]
    events = _shuffled_copy(dataset.events, tmp_path / "events.jsonl", seed=1)
    everything = _shuffled_copy(dataset.feedback, tmp_path / "all.jsonl", seed=2)
    until_cutoff = _shuffled_copy(
        dataset.feedback,
        tmp_path / "early.jsonl",
        seed=3,
        keep=lambda line: _reported_at(line) < cutoff,
    )

    full = _run(events, everything, tmp_path / "full")
    early = _run(events, until_cutoff, tmp_path / "early")
    streamed = _run(events, everything, tmp_path / "streamed", "--streaming")

    before = {
        t for t, r in full["scored"].items() if parse_timestamp(r["event_time"], None) < cutoff
    }
    assert len(before) > 1000
    assert {t: full["scored"][t] for t in before} == {t: early["scored"][t] for t in before}
    # ...and the later feedback does change later records (this test can fail).
    changed = [
        t for t in full["scored"] if t not in before and full["scored"][t] != early["scored"][t]
    ]
    assert len(changed) >= 20
    # The stateful path (state and timers), same files, same records.
    assert streamed["scored"] == full["scored"]
    counters = full["summary"]["counters"]
    assert counters["feedback_read"] == counters["feedback_accepted"] == len(reports)
    assert full["summary"]["conservation_ok"] is True


def test_confirmed_fraud_shows_in_store_features_and_card_marks(
    dataset: Any, tmp_path: Path
) -> None:
    result = _run(dataset.events, dataset.feedback, tmp_path / "out")

    scored = result["scored"].values()
    assert any(r["ml_features"]["store_frauds_7d"] > 0 for r in scored)
    marked = [r for r in scored if "FR-008" in r["rules_triggered"]]
    assert marked
    reported = {
        json.loads(line)["transaction_id"]: json.loads(line)
        for line in Path(dataset.feedback).read_bytes().splitlines()
    }
    for record in marked:
        evidence = record["rule_details"]["FR-008"]
        confirmed = reported[evidence["confirmed_transaction_id"]]
        assert confirmed["customer_id"] == record["customer_id"]
        assert parse_timestamp(evidence["reported_at"], None) <= parse_timestamp(
            record["event_time"], None
        )


def test_malformed_feedback_is_dead_lettered_with_its_own_stage(
    dataset: Any, tmp_path: Path
) -> None:
    good = Path(dataset.feedback).read_bytes().splitlines()[:3]
    bad = [
        b"not json",
        b'{"transaction_id": "t", "customer_id": "c", "store_id": "s", "label": "maybe", '
        b'"reported_at": "2026-10-01T10:00:00+00:00"}',
        b'{"transaction_id": "t", "customer_id": "c", "store_id": "s", "label": "fraud", '
        b'"reported_at": "2026-10-01T10:00:00"}',
    ]
    feedback = tmp_path / "feedback.jsonl"
    feedback.write_bytes(b"\n".join([*good, *bad]) + b"\n")

    result = _run(dataset.events, str(feedback), tmp_path / "out")

    dead = [r for r in read_records(tmp_path / "out", "dlq") if r["stage"] == "parse_feedback"]
    assert sorted(r["error_type"] for r in dead) == [
        "INVALID_FIELD",
        "INVALID_FIELD",
        "INVALID_JSON",
    ]
    assert {r["source"].rsplit(":", 1)[1] for r in dead} == {"4", "5", "6"}
    summary = result["summary"]
    assert summary["control_dlq"] == 3
    assert summary["read"] == summary["scored"] + summary["dlq"]
    assert summary["counters"]["feedback_read"] == 6
    assert summary["conservation_ok"] is True
