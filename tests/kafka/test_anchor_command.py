"""``python -m pipelines.anchor_controls``: the anchors for a job started without the Python
launcher (the pre-built jar on Kubernetes, whose JobManager runs it as an init container), run
as that container runs it, with the production args file."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.kafka.live import Topics, reader
from transforms.kafka_io import ANCHOR_KEY

REPO = Path(__file__).resolve().parents[2]
PRODUCTION_ARGS = REPO / "k8s" / "config" / "fraud-pipeline.args"
TOOL = "pipelines.anchor_controls"


def _anchor_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", TOOL, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def _keys_by_partition(bootstrap_servers: str, topic: str, expected: int) -> dict[int, bytes]:
    """partition -> key of the records on ``topic``, once ``expected`` have been read."""
    consumer = reader(bootstrap_servers, [topic], "anchor-command")
    seen: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + 30
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and not message.error():
                seen.append((message.partition(), message.key()))
    finally:
        consumer.close()
    by_partition = dict(seen)
    assert len(by_partition) == len(seen), f"more than one record on a partition: {seen}"
    return by_partition


@pytest.mark.kafka
def test_the_command_anchors_every_partition_of_every_control_topic(
    bootstrap_servers: str, topics: Topics
) -> None:
    # The production options, with this machine's broker and the test's topics.
    result = _anchor_command(
        "--args_file",
        str(PRODUCTION_ARGS),
        f"--kafka_bootstrap_servers={bootstrap_servers}",
        *topics.options(),
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"anchored {topics.feedback}: 3 partitions",
        f"anchored {topics.blacklist_changes}: 1 partitions",
        f"anchored {topics.rules}: 1 partitions",
    ]
    assert _keys_by_partition(bootstrap_servers, topics.feedback, 3) == {
        0: ANCHOR_KEY,
        1: ANCHOR_KEY,
        2: ANCHOR_KEY,
    }
    assert _keys_by_partition(bootstrap_servers, topics.blacklist_changes, 1) == {0: ANCHOR_KEY}
    assert _keys_by_partition(bootstrap_servers, topics.rules, 1) == {0: ANCHOR_KEY}


@pytest.mark.kafka
def test_an_unreachable_broker_is_one_line_and_status_1() -> None:
    result = _anchor_command(
        "--args_file", str(PRODUCTION_ARGS), "--kafka_bootstrap_servers=127.0.0.1:9"
    )

    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()  # no librdkafka connection log, no traceback
    assert line.startswith(f"{TOOL}: --kafka_bootstrap_servers 127.0.0.1:9: the broker does not")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--kafka_bootstrap_servers: required"),
        (["--kafka_bootstrap_servers=x:1", "--feedbak_topic=t"], "did you mean --feedback_topic?"),
        (["--args_file", "/nonexistent/fraud-pipeline.args"], "No such file or directory"),
        (
            [
                "--kafka_bootstrap_servers=x:1",
                "--kafka_client_config=sasl.jaas.config=${file:/etc/kafka.properties:jaas}",
            ],
            "resolved by the Java clients only",
        ),
    ],
)
def test_a_wrong_command_line_is_one_line_and_status_2(args: list[str], message: str) -> None:
    result = _anchor_command(*args)

    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{TOOL}: "), line
    assert message in line, line


@pytest.mark.kafka
def test_with_every_the_command_goes_on_anchoring_until_stopped(
    bootstrap_servers: str, topics: Topics
) -> None:
    # As the JobManager pod's heartbeat sidecar runs it.
    command = [sys.executable, "-m", TOOL, f"--kafka_bootstrap_servers={bootstrap_servers}"]
    beating = subprocess.Popen(
        [*command, *topics.options(), "--every", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        anchors = _anchors(bootstrap_servers, topics.blacklist_changes, 3)  # waits up to 30 s
    finally:
        beating.terminate()  # SIGTERM, as Kubernetes stops a sidecar
    out, err = beating.communicate(timeout=30)
    assert len(anchors) >= 3, err
    assert beating.returncode == 0, err
    assert out.splitlines() == ["anchoring every 1 s until stopped"]


def test_a_bad_interval_is_one_line_and_exit_2() -> None:
    result = _anchor_command("--kafka_bootstrap_servers=127.0.0.1:9", "--every", "0")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"{TOOL}: argument --every: invalid seconds value: '0'")


def _anchors(bootstrap_servers: str, topic: str, at_least: int) -> list[bytes]:
    consumer = reader(bootstrap_servers, [topic], "anchor-command")
    keys: list[bytes] = []
    deadline = time.monotonic() + 30
    try:
        while len(keys) < at_least and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and not message.error():
                keys.append(message.key())
    finally:
        consumer.close()
    assert set(keys) <= {ANCHOR_KEY}
    return keys
