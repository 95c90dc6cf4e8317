"""Fault drills on the live path: a crash must lose nothing and write nothing twice.

While the Flink job consumes a paced stream (checkpoints every 5 s), one drill kills the
TaskManager process with ``kill -9`` and starts a new one: Flink restores the job from its last
completed checkpoint and re-reads Kafka from the offsets stored in it. The other stops the
broker mid-stream and starts it again. Either way, every transaction a bounded run of the same
events scores is scored by the job, its dead letters are the bounded run's, and every alert the
job decides ends in the warehouse exactly once (its sinks are idempotent, keyed by
``alert_id``/``dlq_id``) and on the topics at least once: the Kafka writer is at-least-once,
and consumers drop repeats by ``alert_id`` (docs/kafka.md, "Delivery guarantees"). The alerts
themselves are the bounded run's unless an outage made events late (see
``_assert_nothing_lost_or_doubled``).

The TaskManager dies just after a checkpoint completes, often the job's first. Restored from
one taken in its first seconds, the job used to stall for good in about half the CI runs of
2026-12-05: a control partition restarted at the minimum watermark (the reader had saved the
watermark it computed before reading the partition's anchor). The launcher's heartbeat anchors
(``pipelines.kafka.keep_anchoring``) now move it on within seconds.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ml.artifact import load_artifact
from pipelines import fraud, produce
from pipelines.synthetic import generate_dataset
from pipelines.train_default import train_model
from pipelines.warehouse.scratch import project_server_dsn, scratch_database
from tests.flink.rest import flink_get
from tests.kafka.live import (
    Topics,
    consume_until,
    live_job,
    publish_raw,
    record_times,
    wait_until,
)
from tests.output_files import read_records
from tests.services import service_script
from transforms.domain.config import default_rules
from transforms.domain.event_time import business_timezone, format_utc, parse_timestamp
from transforms.domain.model_registry import ModelChange, encode_model_change
from transforms.domain.rules_registry import RulesChange, encode_rules_change, new_rules_change
from transforms.domain.store_minutes import VALUE_FIELDS, store_minutes

pytestmark = [pytest.mark.kafka, pytest.mark.flink, pytest.mark.chaos, pytest.mark.slow]

ZONE = business_timezone("America/Sao_Paulo")
LOWER_THRESHOLD = "alert_threshold: 0.45\n"
RATE = 40  # events per second: the stream of ~1,000 events lasts ~25 s, several checkpoints


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("drill-data")
    data = generate_dataset(str(folder), seed=23, customers=120, days=10)
    out = tmp_path_factory.mktemp("drill-bounded")
    # A rules version registered before the job starts, effective two thirds through the
    # stream: the restored job must still score by it from its time on.
    times = sorted(
        parse_timestamp(json.loads(line)["timestamp"], ZONE)
        for line in Path(data.events).read_bytes().decode("utf-8", "replace").splitlines()
        if _is_event(line)
    )
    change = new_rules_change(LOWER_THRESHOLD, times[2 * len(times) // 3], times[0], "t", "drill")
    # And a model version from a third through: the job starts without a model, and the
    # restored job's workers load it again from its location.
    model_dir = tmp_path_factory.mktemp("drill-model")
    train_model(str(model_dir), seed=4, customers=120, days=8)
    artifact = load_artifact(str(model_dir))
    model_change = ModelChange(
        artifact.model_version,
        artifact.metadata["model_sha256"],
        str(model_dir),
        times[len(times) // 3],
        times[0],
        "t",
        "drill",
    )
    registry = folder / "rules.jsonl"
    registry.write_bytes(
        encode_model_change(model_change) + b"\n" + encode_rules_change(change) + b"\n"
    )
    options = [f"--input={data.events}", f"--blacklist={data.blacklist}", "--no_model"]
    fraud.run([*options, f"--rules_changes={registry}", f"--output_dir={out}"])
    alerts = {a["alert_id"] for a in read_records(out, "alerts")}
    dlq = {d["raw_payload"] for d in read_records(out, "dlq")}
    scored = {s["transaction_id"] for s in read_records(out, "scored")}
    assert alerts
    assert dlq
    return {
        "data": data,
        "alerts": alerts,
        "dlq_payloads": dlq,
        "scored": scored,
        "rules_change": change,
        "model_change": model_change,
    }


def _is_event(line: str) -> bool:
    try:
        document = json.loads(line)
    except ValueError:
        return False
    if not isinstance(document, dict) or not isinstance(document.get("timestamp"), str):
        return False
    try:
        parse_timestamp(document["timestamp"], ZONE)
    except ValueError:
        return False
    return True


@pytest.fixture
def warehouse() -> Iterator[str]:
    with scratch_database(os.environ.get("STREAMFLOW_TEST_PG_DSN") or project_server_dsn()) as dsn:
        yield dsn


def _rows(dsn: str, sql: str) -> list[Any]:
    with psycopg.connect(dsn) as connection:
        return [row[0] for row in connection.execute(sql).fetchall()]


def _drill(
    dataset: dict[str, Any],
    bootstrap_servers: str,
    flink_master: str,
    dsn: str,
    topics: Topics,
    tmp_path: Path,
    fault: Callable[[str], None],
    check_minutes: bool = False,
) -> dict[str, Any]:
    """Runs the live job over a paced stream, applies ``fault`` (given the job id) once a
    checkpoint holding part of the stream has completed, and waits for every expected alert and
    dead letter in the warehouse. Returns what the topics and the warehouse hold; with
    ``check_minutes``, also the store minutes the warehouse holds and those it should."""
    job_name = f"streamflow-drill-{uuid.uuid4().hex[:8]}"
    data = dataset["data"]
    args = [f"--kafka_bootstrap_servers={bootstrap_servers}", *topics.options()]
    args += [f"--blacklist={data.blacklist}", "--no_model", f"--postgres_dsn={dsn}"]
    args += [f"--kafka_consumer_group={job_name}", f"--output_dir={tmp_path / 'live'}"]
    change: RulesChange = dataset["rules_change"]
    model_change: ModelChange = dataset["model_change"]
    publish_raw(
        bootstrap_servers,
        topics.rules,
        [encode_rules_change(change)],
        change.registered_at_ms,
        key=b"1",
    )
    publish_raw(
        bootstrap_servers,
        topics.rules,
        [encode_model_change(model_change)],
        model_change.registered_at_ms,
        key=b"model-1",
    )
    with live_job(flink_master, job_name, args, tmp_path / "logs") as job_id:
        to_topic = [f"--bootstrap_servers={bootstrap_servers}", f"--topic={topics.input}"]
        producing = threading.Thread(
            target=produce.main, args=([*to_topic, f"--input={data.events}", f"--rate={RATE}"],)
        )
        producing.start()
        completed_before = _completed_checkpoints(flink_master, job_id)
        assert wait_until(
            lambda: _completed_checkpoints(flink_master, job_id) >= completed_before + 1, 120
        ), "no checkpoint completed while the stream was consumed"
        assert producing.is_alive(), "the stream ended before the fault: raise its length"
        fault(job_id)
        producing.join()
        expected_alerts, expected_dlq = len(dataset["alerts"]), len(dataset["dlq_payloads"])
        finished = wait_until(
            lambda: (
                len(_rows(dsn, "SELECT alert_id::text FROM bronze.fraud_alerts")) >= expected_alerts
                and len(_rows(dsn, "SELECT dlq_id FROM bronze.dlq_events")) >= expected_dlq
            ),
            timeout_s=300,
        )
        assert finished, (tmp_path / "logs" / "launcher.err").read_text()[-2000:]
        checkpoints = flink_get(flink_master, f"/jobs/{job_id}/checkpoints")
        # What the job itself decided, from its files (written every emit interval; at least
        # once after a restore, so read as sets): every transaction scored, and its alerts.
        live = tmp_path / "live"
        warehouse_alerts = set(_rows(dsn, "SELECT alert_id::text FROM bronze.fraud_alerts"))
        assert wait_until(
            lambda: (
                {s["transaction_id"] for s in read_records(live, "scored")} >= dataset["scored"]
                and {a["alert_id"] for a in read_records(live, "alerts")} >= warehouse_alerts
            ),
            120,
        ), "the job's files never held every scored transaction and alert"
        # The topics, read until they hold every alert the job decided (which may be one the
        # bounded run did not raise: an event made late by the outage, scored on arrival).
        decided = {a["alert_id"] for a in read_records(live, "alerts")}
        topic_records = consume_until(
            bootstrap_servers,
            [topics.alerts, topics.dlq],
            lambda c: (
                {a["alert_id"] for a in c.of(topics.alerts)} >= decided
                and len(c.of(topics.dlq)) >= expected_dlq
            ),
            timeout_s=60,
        )
        minutes: dict[str, Any] = {}
        if check_minutes:
            minutes = _store_minutes_settle(dsn, topics, bootstrap_servers, live, topic_records)
    return {
        **minutes,
        "topics": topics,
        "on_topic": topic_records,
        "alert_rows": _rows(dsn, "SELECT alert_id::text FROM bronze.fraud_alerts"),
        "dlq_rows": _rows(dsn, "SELECT raw_payload FROM bronze.dlq_events"),
        "job_scored": {s["transaction_id"] for s in read_records(live, "scored")},
        "job_versions": {
            (parse_timestamp(s["event_time"], None) >= change.effective_from_ms, s["rules_version"])
            for s in read_records(live, "scored")
        },
        "job_models": {
            (
                parse_timestamp(s["event_time"], None) >= model_change.effective_from_ms,
                s["model_version"],
            )
            for s in read_records(live, "scored")
        },
        "job_alerts": {a["alert_id"] for a in read_records(live, "alerts")},
        # Set when the job was restored from a checkpoint (after a failure).
        "restored": checkpoints["latest"]["restored"],
    }


def _warehouse_minutes(dsn: str) -> dict[str, dict[str, Any]]:
    columns = ", ".join(VALUE_FIELDS)
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(f"SELECT {columns} FROM silver.store_minute_metrics").fetchall()
    minutes = {}
    for row in rows:
        record = dict(zip(VALUE_FIELDS, row, strict=True))
        for field in ("window_start", "window_end"):
            record[field] = format_utc(int(record[field].timestamp() * 1000))
        record["amount"] = str(record["amount"])
        minutes[record["window_key"]] = record
    return minutes


def _store_minutes_settle(
    dsn: str, topics: Topics, bootstrap_servers: str, live: Path, on_topic: Any
) -> dict[str, Any]:
    """Waits until the warehouse's store minutes are the recomputation from what the job scored
    and dead-lettered (each once, however often a restore replayed it); returns both."""
    scored = {s["transaction_id"]: s for s in read_records(live, "scored")}
    dead = {d["dlq_id"]: d for d in on_topic.of(topics.dlq)}
    times = record_times(bootstrap_servers, topics.input, len(scored) + len(dead))
    expected = {
        key: {field: record[field] for field in VALUE_FIELDS}
        for key, record in store_minutes(
            scored.values(), [(d, times[d["source"]]) for d in dead.values()]
        ).items()
    }
    wait_until(lambda: _warehouse_minutes(dsn) == expected, timeout_s=60)
    return {"minute_rows": _warehouse_minutes(dsn), "minutes_expected": expected}


def _completed_checkpoints(master: str, job_id: str) -> int:
    return int(flink_get(master, f"/jobs/{job_id}/checkpoints")["counts"]["completed"])


def _assert_nothing_lost_or_doubled(dataset: dict[str, Any], outcome: dict[str, Any]) -> None:
    topics: Topics = outcome["topics"]
    alert_rows, dlq_rows = outcome["alert_rows"], outcome["dlq_rows"]
    # Nothing lost: every transaction the bounded run scored was scored by the job, and every
    # dead letter is the bounded run's.
    assert outcome["job_scored"] == dataset["scored"]
    # Each scored by the rules version of its time, the registered one kept through a restore.
    change: RulesChange = dataset["rules_change"]
    assert outcome["job_versions"] == {
        (False, default_rules().rules_version),
        (True, change.rules_version),
    }
    # And by the model version of its time: none before it, the registered one after.
    model_change: ModelChange = dataset["model_change"]
    assert outcome["job_models"] == {(False, None), (True, model_change.model_version)}
    assert Counter(dlq_rows) == Counter(dataset["dlq_payloads"])
    # The alerts are what the job decided. They are the bounded run's unless events arrived
    # after the watermark had passed them and were scored late, on arrival: a broker outage
    # can let an idle partition's watermark jump to the wall clock (docs/kafka.md, "Event
    # time, watermarks and idle partitions"), which is not what these drills test.
    job_alerts = outcome["job_alerts"]
    # The warehouse: each of the job's alerts once, nothing else.
    assert Counter(alert_rows) == Counter(job_alerts)
    # The topics: every record, repeats allowed (dropped by alert_id downstream).
    on_topic = outcome["on_topic"]
    assert {a["alert_id"] for a in on_topic.of(topics.alerts)} == job_alerts
    assert {d["raw_payload"] for d in on_topic.of(topics.dlq)} == dataset["dlq_payloads"]
    print(
        "drill:",
        {
            "alerts_expected": len(dataset["alerts"]),
            "alerts_of_the_job": len(job_alerts),
            "alerts_differing": len(job_alerts ^ dataset["alerts"]),
            "alert_rows": len(alert_rows),
            "alerts_on_topic": len(on_topic.of(topics.alerts)),
            "dlq_expected": len(dataset["dlq_payloads"]),
            "dlq_rows": len(dlq_rows),
            "dlq_on_topic": len(on_topic.of(topics.dlq)),
        },
    )


def test_a_killed_taskmanager_loses_and_doubles_nothing(
    dataset: dict[str, Any],
    bootstrap_servers: str,
    flink_master: str,
    warehouse: str,
    topics: Topics,
    tmp_path: Path,
) -> None:
    killed: list[int] = []

    def kill_taskmanager(job_id: str) -> None:
        pids = [int(pid) for pid in service_script("flink", "taskmanager-pids").split()]
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGKILL)
        killed.append(pids[0])
        service_script("flink", "taskmanager-start", timeout=120)

    started = time.monotonic()
    outcome = _drill(
        dataset,
        bootstrap_servers,
        flink_master,
        warehouse,
        topics,
        tmp_path,
        kill_taskmanager,
        check_minutes=True,
    )
    assert killed
    restored = outcome["restored"]
    assert restored is not None, "the job was not restored from a checkpoint"
    _assert_nothing_lost_or_doubled(dataset, outcome)
    # The store minutes, restored with the job's state: each counted once, none lost.
    assert outcome["minute_rows"] == outcome["minutes_expected"]
    print(
        "taskmanager drill took", round(time.monotonic() - started), "s; restored checkpoint",
        restored["id"],
    )  # fmt: skip
    # The cluster is left as it was found: one TaskManager, healthy.
    assert len(service_script("flink", "taskmanager-pids").split()) == 1


def test_a_broker_restart_mid_stream_loses_and_doubles_nothing(
    dataset: dict[str, Any],
    bootstrap_servers: str,
    flink_master: str,
    warehouse: str,
    topics: Topics,
    tmp_path: Path,
) -> None:
    def restart_broker(job_id: str) -> None:
        # The broker alone, as a cluster sees its broker restart: the expansion service and
        # the Java worker pool that runs the job's Kafka steps go on.
        service_script("kafka", "broker-stop", timeout=120)
        time.sleep(5)  # the job and the producer see it gone and retry
        service_script("kafka", "start", timeout=300)

    outcome = _drill(
        dataset, bootstrap_servers, flink_master, warehouse, topics, tmp_path, restart_broker
    )
    _assert_nothing_lost_or_doubled(dataset, outcome)
    # Whether the clients rode the outage out or the job restarted from a checkpoint.
    print("broker drill: restored from", outcome["restored"])
