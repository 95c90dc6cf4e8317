"""The same input on Beam's FnApiRunner and on a real Flink cluster gives the same results.

Each run goes through ``pipelines.fraud.run`` exactly as the README's commands do: the Flink
runs submit to the local standalone cluster through the Beam job server, with the anomaly
model and the blacklist shipped inside the pipeline. Input delivery is shuffled, so events
arrive far out of event-time order, and the generator's malformed lines exercise the DLQ.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import pytest

from pipelines import fraud
from pipelines.synthetic import generate_dataset
from pipelines.train_default import train_model
from tests.flink import prometheus
from tests.flink.rest import flink_get
from tests.output_files import read_records

pytestmark = [pytest.mark.flink, pytest.mark.slow]

# Fields stamped with the wall clock when a record is written; everything else must match.
PROCESSING_TIME_FIELDS = {"alerts": "detected_at", "dlq": "received_at"}
KEYS = {"scored": "transaction_id", "alerts": "alert_id", "dlq": "dlq_id"}
# Counted only by the stateful detector path (its expiry timer): a grouped run has no state.
STATEFUL_ONLY_COUNTERS = {"customers_expired", "stores_expired"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("flink-data")
    dataset = generate_dataset(str(folder), seed=5, customers=60, days=6)
    # Bytes, not text: some malformed lines are deliberately not UTF-8.
    lines = Path(dataset.events).read_bytes().splitlines(keepends=True)
    random.Random(11).shuffle(lines)
    shuffled = folder / "shuffled.jsonl"
    shuffled.write_bytes(b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines))
    model = str(tmp_path_factory.mktemp("flink-model"))
    train_model(model, seed=3, customers=120, days=8)
    return {
        "input": str(shuffled),
        "labels": dataset.labels,
        "blacklist": dataset.blacklist,
        "model": model,
    }


def _run(inputs: dict[str, str], out: Path, *runner_args: str) -> dict[str, Any]:
    return fraud.run(
        [
            f"--input={inputs['input']}",
            f"--labels_file={inputs['labels']}",
            f"--blacklist={inputs['blacklist']}",
            f"--model={inputs['model']}",
            f"--output_dir={out}",
            *runner_args,
        ]
    )


def _outputs(out: Path) -> dict[str, dict[str, dict[str, Any]]]:
    outputs = {}
    for name, key in KEYS.items():
        records = read_records(out, name)
        by_key = {record[key]: record for record in records}
        assert len(by_key) == len(records), f"duplicate {name} records"
        for record in by_key.values():
            record.pop(PROCESSING_TIME_FIELDS.get(name, ""), None)
        outputs[name] = by_key
    return outputs


@pytest.fixture(scope="module")
def reference(
    inputs: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], dict[str, Any]]:
    out = tmp_path_factory.mktemp("direct")
    summary = _run(inputs, out, "--runner=FnApiRunner")
    return summary, _outputs(out)


def _assert_same_as_reference(
    reference: tuple[dict[str, Any], dict[str, Any]], summary: dict[str, Any], out: Path
) -> None:
    expected_summary, expected = reference
    actual = _outputs(out)
    for name in KEYS:
        assert actual[name].keys() == expected[name].keys(), name
        assert actual[name] == expected[name], name
    assert all(expected[name] for name in KEYS), "the input must exercise every output"
    assert any(r["ml_score"] is not None for r in actual["scored"].values())
    assert _shared_counters(summary) == _shared_counters(expected_summary)
    assert summary["conservation_ok"] is True
    assert summary["quality"] == expected_summary["quality"]


def _shared_counters(summary: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in summary["counters"].items() if k not in STATEFUL_ONLY_COUNTERS}


def test_flink_batch_grouped_path_matches_direct_runner(
    inputs: dict[str, str],
    reference: tuple[dict[str, Any], dict[str, Any]],
    flink_master: str,
    tmp_path: Path,
) -> None:
    summary = _run(
        inputs,
        tmp_path,
        "--runner=FlinkRunner",
        f"--flink_master={flink_master}",
        "--parallelism=2",
    )
    assert summary["detector"] == "grouped"
    _assert_same_as_reference(reference, summary, tmp_path)


def test_flink_streaming_matches_direct_runner_with_exactly_once_checkpoints(
    inputs: dict[str, str],
    reference: tuple[dict[str, Any], dict[str, Any]],
    flink_master: str,
    tmp_path: Path,
) -> None:
    job_name = f"streamflow-parity-{uuid.uuid4().hex[:8]}"
    scraper = prometheus.Scraper(prometheus.endpoints(), job_name)
    scraper.start()
    try:
        summary = _run(
            inputs,
            tmp_path,
            "--runner=FlinkRunner",
            f"--flink_master={flink_master}",
            "--streaming",
            f"--job_name={job_name}",
        )
    finally:
        scraper.stop.set()
        scraper.join()
    assert summary["detector"] == "stateful"
    _assert_same_as_reference(reference, summary, tmp_path)
    # While it ran, the job's own counters and Flink's throughput, back-pressure and
    # checkpoint metrics were on the Prometheus endpoints (scripts/flink/config.yaml).
    seen = scraper.seen
    pipeline = "flink_taskmanager_job_task_operator_streamflow_"
    assert seen.get(pipeline + "read", 0) > 0, sorted(seen)[:20]
    assert seen.get(pipeline + "parsed", 0) > 0
    assert any(name.startswith(pipeline + "dlq_") for name in seen)
    assert "flink_taskmanager_job_task_numRecordsInPerSecond" in seen
    assert "flink_taskmanager_job_task_backPressuredTimeMsPerSecond" in seen
    assert "flink_jobmanager_job_numberOfCompletedCheckpoints" in seen
    # The cluster's settings (scripts/flink/config.yaml) reached the job, and checkpoints of
    # the stateful pipeline completed: an operator with a side input would fail every one.
    job = _job_id(flink_master, job_name)
    config = flink_get(flink_master, f"/jobs/{job}/checkpoints/config")
    assert config["mode"] == "exactly_once"
    assert config["interval"] == 5_000
    assert config["state_backend"] == "EmbeddedRocksDBStateBackend"
    assert config["externalization"]["enabled"] is True
    counts = flink_get(flink_master, f"/jobs/{job}/checkpoints")["counts"]
    assert counts["completed"] >= 1, counts
    # A checkpoint that races a task fails harmlessly: a finishing one ("closing", or a request
    # for a task the TaskManager no longer knows: the labels file's reader ends early), or one
    # not running yet on a busy machine ("tasks not ready": the first checkpoint is due 5 s
    # after submission). Any other failure (a side input, a state coder) must not happen.
    history = flink_get(flink_master, f"/jobs/{job}/checkpoints")["history"]
    failures = [c for c in history if c["status"] == "FAILED"]
    unexplained = [
        c
        for c in failures
        if not any(
            race in str(c) for race in ("closing", "request for unknown task", "tasks not ready")
        )
    ]
    assert not unexplained, counts


def _job_id(master: str, job_name: str) -> str:
    jobs = flink_get(master, "/jobs/overview")["jobs"]
    matching = [job["jid"] for job in jobs if job_name in job["name"]]
    assert len(matching) == 1, [job["name"] for job in jobs]
    return str(matching[0])
