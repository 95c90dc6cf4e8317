"""The live path end to end: events produced to Kafka, the Flink streaming job reading them,
alerts and dead letters published to their topics, as a bounded run of the same events says.

The data set has everything the wire carries: v1 (naive local time, often no version), v2, a
future version with a field the pipeline does not know, and malformed lines, some not UTF-8;
plus records only a topic can hold (an empty value, one over ``--max_payload_bytes``); and the
confirmed frauds, reported two days later on the feedback topic, and blacklist changes on the
compacted reference topic, which pass the store step and the customer step on Flink's
streaming path as the bounded run passes them; and on the rules topic a registered rules
version and a retrained model's version, each scoring from its own effective time (the workers
load the model from its location).

A replay fills the topics before the job starts, in either order. The feedback topic then holds
a long history before the data set's (20,000 outcomes of other customers): the job reads the
events' topic long before it is through the feedback, and must still apply each control record
from its own time, not from when it happened to be read (docs/kafka.md, "Feedback and
blacklist changes").
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ml.artifact import load_artifact
from pipelines import fraud, produce
from pipelines.options import DEFAULT_CUSTOMER_SHARDS
from pipelines.synthetic import generate_dataset
from pipelines.train_default import train_model
from tests.flink import prometheus
from tests.flink.rest import flink_get, running_job_id
from tests.kafka.live import (
    ROOT,
    Topics,
    consume_until,
    live_job,
    publish_raw,
    record_times,
    wait_until,
)
from tests.output_files import read_records
from transforms.domain.event_time import business_timezone, format_utc, parse_timestamp
from transforms.domain.events import Transaction, parse_event
from transforms.domain.model_registry import ModelChange, encode_model_change
from transforms.domain.rules_registry import RulesChange, encode_rules_change, new_rules_change
from transforms.domain.store_minutes import VALUE_FIELDS, latest_panes, store_minutes

pytestmark = [pytest.mark.kafka, pytest.mark.flink, pytest.mark.slow]

ZONE = business_timezone("America/Sao_Paulo")
MAX_PAYLOAD = 4096


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("live-data")
    data = generate_dataset(str(folder), seed=11, customers=150, days=10, feedback_delay_days=2)
    model = str(tmp_path_factory.mktemp("live-model"))
    train_model(model, seed=3, customers=120, days=8)
    retrained = str(tmp_path_factory.mktemp("live-retrained"))
    train_model(retrained, seed=4, customers=120, days=8)
    lines = [line for line in Path(data.events).read_bytes().splitlines() if line]
    return {"data": data, "model": model, "retrained": retrained, "lines": lines}


def _versions(lines: list[bytes]) -> Counter[int]:
    return Counter(
        event.schema_version
        for event in (parse_event(line, ZONE) for line in lines)
        if isinstance(event, Transaction)
    )


def _blacklist_changes(events: list[Transaction], path: Path) -> str:
    """Half-way through the data, the busiest customer and store join the blacklist."""
    halfway = sorted(e.event_time_ms for e in events)[len(events) // 2]
    customer = Counter(e.customer_id for e in events).most_common(1)[0][0]
    store = Counter(e.store_id for e in events).most_common(1)[0][0]
    effective_at = format_utc(halfway)
    path.write_text(
        "".join(
            json.dumps({"kind": kind, "id": id_, "action": "add", "effective_at": effective_at})
            + "\n"
            for kind, id_ in (("customer", customer), ("store", store))
        )
    )
    return str(path)


# Two thirds of the way through the data, a lower alert threshold takes effect.
LOWER_THRESHOLD = "alert_threshold: 0.45\n"


def _rules_change(
    events: list[Transaction], retrained: str, path: Path
) -> tuple[str, RulesChange, ModelChange]:
    """A rules version registered an hour before it takes effect, two thirds through the
    data, and a retrained model's version from two fifths on (workers load it from where it
    lies, as pipelines.models register publishes it)."""
    times = sorted(e.event_time_ms for e in events)
    effective = times[2 * len(events) // 3]
    change = new_rules_change(LOWER_THRESHOLD, effective, effective - 3_600_000, "test", "lower")
    artifact = load_artifact(retrained)
    model_from = times[2 * len(events) // 5]
    model = ModelChange(
        artifact.model_version,
        artifact.metadata["model_sha256"],
        retrained,
        model_from,
        model_from - 3_600_000,
        "test",
        "retrained",
    )
    path.write_bytes(encode_model_change(model) + b"\n" + encode_rules_change(change) + b"\n")
    return str(path), change, model


# Long enough that the job's Python workers take seconds over it, while the events' topic
# (1,336 records) is read in one poll: a control read's progress must not matter.
HISTORY = 20_000


def _with_history(feedback: str, before_ms: int, path: Path) -> str:
    """The data set's feedback after ``HISTORY`` earlier outcomes of customers and stores
    that have no events, reported before the first event (they change no alert)."""
    lines = [
        json.dumps(
            {
                "transaction_id": f"history-{n}",
                "customer_id": f"H{n:06d}",
                "store_id": f"S-HIST-{n % 97:03d}",
                "label": "fraud",
                "reported_at": datetime.fromtimestamp(
                    (before_ms - (HISTORY - n) * 1000) / 1000, UTC
                ).isoformat(),
            }
        )
        + "\n"
        for n in range(HISTORY)
    ]
    path.write_text("".join(lines) + Path(feedback).read_text())
    return str(path)


COUNTER = "flink_taskmanager_job_task_operator_streamflow_"


def accounted_for(seen: dict[str, float]) -> float:
    """Events scored or dead-lettered so far, by the job's counters on Prometheus."""
    dead = sum(v for k, v in seen.items() if k.startswith(COUNTER + "dlq_"))
    return seen.get(COUNTER + "scored", 0) + dead


@pytest.mark.parametrize("order", ["controls_first", "events_first"])
def test_the_live_job_publishes_what_a_bounded_run_finds(
    order: str,
    dataset: dict[str, Any],
    bootstrap_servers: str,
    flink_master: str,
    topics: Topics,
    tmp_path: Path,
) -> None:
    data, lines = dataset["data"], dataset["lines"]
    common = [
        f"--blacklist={data.blacklist}",
        f"--model={dataset['model']}",
        f"--max_payload_bytes={MAX_PAYLOAD}",
    ]
    versions = _versions(lines)
    assert all(versions[v] for v in (1, 2, 3)), versions  # 3: a future version
    events = [e for e in (parse_event(line, ZONE) for line in lines) if isinstance(e, Transaction)]
    changes = _blacklist_changes(events, tmp_path / "changes.jsonl")
    first_event_ms = min(e.event_time_ms for e in events)
    feedback = _with_history(data.feedback, first_event_ms, tmp_path / "feedback.jsonl")
    rules_changes, rules_change, model_change = _rules_change(
        events, dataset["retrained"], tmp_path / "rules.jsonl"
    )
    bounded = fraud.run(
        [
            f"--input={data.events}",
            f"--feedback={feedback}",
            f"--blacklist_changes={changes}",
            f"--rules_changes={rules_changes}",
            f"--output_dir={tmp_path / 'bounded'}",
            *common,
        ]
    )
    expected_alerts = {a["alert_id"]: a for a in read_records(tmp_path / "bounded", "alerts")}
    expected_dlq = Counter(
        (d["error_type"], d["raw_payload"]) for d in read_records(tmp_path / "bounded", "dlq")
    )
    assert expected_alerts
    assert expected_dlq
    # The feedback reaches the alerts: a confirmed fraud marks its card (FR-008); and so do
    # the changes: the customer and the store added half-way alert from then on.
    assert any("FR-008" in a["rules_triggered"] for a in expected_alerts.values())
    assert any(
        a["rule_details"].get("FR-005", {}).get("customer_blacklisted")
        for a in expected_alerts.values()
    )
    assert any(
        a["rule_details"].get("FR-005", {}).get("store_blacklisted")
        for a in expected_alerts.values()
    )
    # And the registered version scores from its time on: the alerts it adds say so.
    lowered = [a for a in expected_alerts.values() if a["fraud_score"] < 0.7]
    assert lowered
    assert {a["rules_version"] for a in lowered} == {rules_change.rules_version}
    # The registered model scores from its time on, the job's own before.
    own_model = load_artifact(dataset["model"]).model_version
    for alert in expected_alerts.values():
        after = parse_timestamp(alert["event_time"], None) >= model_change.effective_from_ms
        assert alert["model_version"] == (model_change.model_version if after else own_model)

    def publish_events() -> None:
        produce.main(
            [
                f"--bootstrap_servers={bootstrap_servers}",
                f"--topic={topics.input}",
                f"--input={data.events}",
            ]
        )

    def publish_controls() -> None:
        for kind, topic, path in (
            ("feedback", topics.feedback, feedback),
            ("blacklist_changes", topics.blacklist_changes, changes),
        ):
            produce.main(
                [
                    f"--bootstrap_servers={bootstrap_servers}",
                    f"--topic={topic}",
                    f"--input={path}",
                    f"--kind={kind}",
                ]
            )
        # As pipelines.rules register publishes it: stamped at its registration.
        publish_raw(
            bootstrap_servers,
            topics.rules,
            [encode_rules_change(rules_change)],
            rules_change.registered_at_ms,
            key=b"1",
        )
        publish_raw(
            bootstrap_servers,
            topics.rules,
            [encode_model_change(model_change)],
            model_change.registered_at_ms,
            key=b"model-1",
        )

    for publish in (
        (publish_controls, publish_events)
        if order == "controls_first"
        else (publish_events, publish_controls)
    ):
        publish()
    last_event_ms = max(e.event_time_ms for e in events)
    topic_only = [b"", b"\xff\xfe not UTF-8", b'{"pad": "' + b"x" * MAX_PAYLOAD + b'"}']
    publish_raw(bootstrap_servers, topics.input, topic_only, last_event_ms)
    expected_dlq[("INVALID_JSON", "")] += 1
    expected_dlq[("INVALID_JSON", "\\xff\\xfe not UTF-8")] += 1
    expected_dlq[("PAYLOAD_TOO_LARGE", topic_only[2].decode())] += 1
    total = len(lines) + len(topic_only)

    job_name = f"streamflow-live-{uuid.uuid4().hex[:8]}"
    scraper = prometheus.Scraper(prometheus.endpoints(), job_name)
    scraper.start()
    args = [f"--kafka_bootstrap_servers={bootstrap_servers}", *topics.options(), *common]
    args += [f"--kafka_consumer_group={job_name}", f"--output_dir={tmp_path / 'live'}"]
    try:
        with live_job(flink_master, job_name, args, tmp_path / "logs"):
            got = consume_until(
                bootstrap_servers,
                [topics.alerts, topics.dlq],
                lambda c: (
                    len(c.of(topics.alerts)) >= len(expected_alerts)
                    and len(c.of(topics.dlq)) >= sum(expected_dlq.values())
                ),
                timeout_s=300,
            )
            # Every event is accounted for once the stream is caught up (the watermark then
            # follows the wall clock and releases the last buffered events).
            wait_until(lambda: accounted_for(scraper.seen) >= total, timeout_s=120)
            # Each store minute's last pane is the bounded recomputation's value: of the bounded
            # run's scored records, and of the dead letters by their payload's time or else
            # their Kafka time.
            times = record_times(bootstrap_servers, topics.input, total)
            dead_letters = [(d, times[d["source"]]) for d in got.of(topics.dlq)]
            expected_minutes = {
                key: {field: record[field] for field in VALUE_FIELDS}
                for key, record in store_minutes(
                    read_records(tmp_path / "bounded", "scored"), dead_letters
                ).items()
            }

            def minutes_of(collected: Any) -> dict[str, dict[str, Any]]:
                return {
                    key: {field: pane[field] for field in VALUE_FIELDS}
                    for key, pane in latest_panes(collected.of(topics.metrics)).items()
                }

            minutes = consume_until(
                bootstrap_servers,
                [topics.metrics],
                lambda c: minutes_of(c) == expected_minutes,
                timeout_s=120,
            )
    finally:
        scraper.stop.set()
        scraper.join()
    # The fixture cancelled the job in Flink (its REST API, as the web UI does): the launcher
    # says so in one line.
    launcher_err = (tmp_path / "logs" / "launcher.err").read_text()
    assert "Traceback" not in launcher_err, launcher_err[-3000:]
    assert launcher_err.splitlines()[-1] == (
        f"pipelines.fraud: the job was cancelled in Flink; its summary so far is in "
        f"{tmp_path / 'live'}"
    )

    alerts = {a["alert_id"]: a for a in got.of(topics.alerts)}
    assert len(got.of(topics.alerts)) == len(alerts), "an alert was published twice"
    assert alerts.keys() == expected_alerts.keys()
    for alert_id, alert in alerts.items():
        live, batch = dict(alert), dict(expected_alerts[alert_id])
        live.pop("detected_at")
        batch.pop("detected_at")
        assert live == batch, alert_id
    got_minutes = minutes_of(minutes)
    assert got_minutes.keys() == expected_minutes.keys()
    wrong = [key for key in expected_minutes if got_minutes[key] != expected_minutes[key]]
    assert not wrong, [(got_minutes[k], expected_minutes[k]) for k in wrong[:3]]
    # Keyed by customer: one customer's alerts stay in order on one partition.
    dlq = got.of(topics.dlq)
    assert Counter((d["error_type"], d["raw_payload"]) for d in dlq) == expected_dlq
    assert all(d["source"].startswith(f"kafka:{topics.input}:") for d in dlq)
    positions = {tuple(d["source"].rsplit(":", 2)[1:]) for d in dlq}
    assert len(positions) == len(dlq), "two dead letters claim one Kafka record"

    seen = {k.removeprefix(COUNTER): v for k, v in scraper.seen.items() if k.startswith(COUNTER)}
    dead = sum(v for name, v in seen.items() if name.startswith("dlq_"))
    assert seen["read"] == total == seen["scored"] + dead, seen
    assert seen["future_schema_events"] == versions[3], seen
    assert bounded["scored"] == seen["scored"]
    feedback_count = data.counts["feedback"] + HISTORY
    assert seen["feedback_read"] == seen["feedback_accepted"] == feedback_count, seen
    assert seen["blacklist_changes_read"] == seen["blacklist_changes_accepted"] == 2, seen
    assert seen["rules_changes_read"] == seen["rules_changes_accepted"] == 2, seen
    assert seen["rules_changes_learned_by_shards"] == 2 * DEFAULT_CUSTOMER_SHARDS, seen
    assert "model_loads_failed" not in seen, seen
    assert "rules_changes_late_in_shards" not in seen, seen
    # The job's own metrics: alerts by rule, and every alert's latency measured once.
    for rule_id in ("FR-005", "FR-008"):
        fired = sum(rule_id in a["rules_triggered"] for a in alerts.values())
        assert seen["alerts_rule_" + rule_id.lower().replace("-", "_")] == fired, seen
    assert seen["alert_latency_ms_le_inf"] == len(alerts), seen
    assert "newest_event_time_ms" in seen, seen


def test_ctrl_c_in_the_launchers_terminal_cancels_the_job(
    flink_master: str, bootstrap_servers: str, topics: Topics, tmp_path: Path
) -> None:
    # Ctrl-C reaches the terminal's whole foreground group: the launcher, the job server's JVM
    # and the Python worker processes Beam starts. The Flink job must not run on without them.
    job_name = f"streamflow-ctrl-c-{uuid.uuid4().hex[:8]}"
    command = [
        sys.executable,
        "-m",
        "pipelines.fraud",
        "--runner=FlinkRunner",
        f"--flink_master={flink_master}",
        "--streaming",
        f"--job_name={job_name}",
        f"--kafka_bootstrap_servers={bootstrap_servers}",
        *topics.options(),
        f"--output_dir={tmp_path / 'out'}",
        "--no_model",
    ]
    log = tmp_path / "launcher.err"
    with log.open("w") as stderr:
        launcher = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
        )
    try:
        started = wait_until(
            lambda: launcher.poll() is not None or running_job_id(flink_master, job_name), 180
        )
        job_id = running_job_id(flink_master, job_name)
        assert started, log.read_text()[-3000:]
        assert job_id, log.read_text()[-3000:]
        os.killpg(launcher.pid, signal.SIGINT)
        launcher.wait(90)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait(30)
    # Cancelled; or failed first, when the worker processes the same Ctrl-C ended were busy.
    ended = wait_until(
        lambda: flink_get(flink_master, f"/jobs/{job_id}")["state"] in ("CANCELED", "FAILED"), 60
    )
    printed = log.read_text()
    assert ended, printed[-3000:]
    assert "pipelines.fraud: stopping: cancelling the job" in printed
    assert "TypeError" not in printed
