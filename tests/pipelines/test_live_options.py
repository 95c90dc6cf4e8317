"""The live path's launch checks and the rule that no secret travels as an option value.

These need no broker: what they check happens before a job is built. The live job itself is
tested against the local broker and Flink in tests/kafka/.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import fraud
from pipelines.fraud import LIVE_MAX_BUNDLE_TIME_MS, pipeline_options
from pipelines.kafka import (
    KafkaOptions,
    check_broker,
    client_config,
    consumer_config,
    expansion_service,
)
from pipelines.options import LaunchError


def _kafka(*argv: str) -> KafkaOptions:
    return PipelineOptions(["--kafka_bootstrap_servers=127.0.0.1:9", *argv]).view_as(KafkaOptions)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stopped(argv: list[str]) -> str:
    with pytest.raises(SystemExit) as stopped:
        fraud.main(argv)
    message = str(stopped.value.code)
    assert message.startswith("pipelines.fraud: ")
    assert "\n" not in message
    return message


def test_client_settings_pass_through_and_offsets_are_never_auto_committed() -> None:
    options = _kafka(
        "--kafka_client_config=security.protocol=SASL_SSL",
        "--kafka_client_config=config.providers=file",
        "--kafka_client_config=sasl.jaas.config=${file:/etc/streamflow/kafka.properties:jaas}",
    )
    consumer = consumer_config(options)
    assert consumer["bootstrap.servers"] == "127.0.0.1:9"
    assert consumer["security.protocol"] == "SASL_SSL"
    assert consumer["sasl.jaas.config"].startswith("${file:")
    assert consumer["enable.auto.commit"] == "false"
    assert consumer["group.id"] == "streamflow-fraud"


@pytest.mark.parametrize(
    "setting",
    [
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="u" password="p";',
        "ssl.key.password=hunter2",
    ],
)
def test_a_literal_secret_in_a_client_setting_is_refused(setting: str) -> None:
    with pytest.raises(LaunchError, match="config provider"):
        client_config(_kafka(f"--kafka_client_config={setting}"))


def test_a_client_setting_without_a_value_is_refused() -> None:
    with pytest.raises(LaunchError, match="expected key=value"):
        client_config(_kafka("--kafka_client_config=acks"))


def test_a_broker_that_does_not_answer_stops_the_launch_with_one_line() -> None:
    options = PipelineOptions([f"--kafka_bootstrap_servers=127.0.0.1:{_closed_port()}"]).view_as(
        KafkaOptions
    )
    with pytest.raises(LaunchError, match="the broker does not answer") as refused:
        check_broker(options, timeout_s=2)
    assert "\n" not in str(refused.value)


def test_an_expansion_service_that_does_not_answer_is_named() -> None:
    address = f"localhost:{_closed_port()}"
    with pytest.raises(LaunchError, match=f"{address} does not answer"):
        expansion_service(_kafka(f"--kafka_expansion_service={address}"))


def test_the_live_path_needs_a_streaming_flink_job(tmp_path: Path) -> None:
    message = _stopped(
        ["--kafka_bootstrap_servers=127.0.0.1:9", f"--output_dir={tmp_path}", "--no_model"]
    )
    assert "needs --runner=FlinkRunner --streaming" in message


def test_files_and_a_topic_are_not_both_an_input(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("{}\n")
    both = [f"--input={events}", "--kafka_bootstrap_servers=127.0.0.1:9"]
    message = _stopped([*both, "--no_model", f"--output_dir={tmp_path / 'out'}"])
    assert "give one input, not both" in message


def test_a_warehouse_password_never_becomes_a_flink_option(tmp_path: Path) -> None:
    message = _stopped(
        [
            "--runner=FlinkRunner",
            "--flink_master=localhost:1",
            "--postgres_dsn=postgresql://streamflow:s3cret@127.0.0.1:5432/streamflow",
            f"--output_dir={tmp_path}",
            "--no_model",
        ]
    )
    assert "PGPASSWORD" in message
    assert "s3cret" not in message


def test_secrets_given_the_supported_way_are_in_no_option_of_the_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The password is in the environment (libpq reads it on the worker), the Kafka secret in a
    # file the clients resolve themselves: the options the job is submitted with hold neither.
    monkeypatch.setenv("PGPASSWORD", "pg-s3cret")
    options = pipeline_options(
        [
            "--runner=FlinkRunner",
            "--flink_master=[local]",
            "--flink_job_server_jar=/dev/null",
            "--streaming",
            "--kafka_bootstrap_servers=broker:9092",
            "--kafka_client_config=sasl.jaas.config=${file:/mnt/kafka.properties:jaas}",
            "--postgres_dsn=host=db user=streamflow dbname=streamflow",
        ]
    )
    submitted = repr(options.get_all_options(retain_unknown_options=True))
    assert "pg-s3cret" not in submitted
    assert "${file:/mnt/kafka.properties:jaas}" in submitted
    assert f"'max_bundle_time_mills': {LIVE_MAX_BUNDLE_TIME_MS}" in submitted


def test_a_kafka_record_keeps_its_coordinates_and_bytes() -> None:
    from types import SimpleNamespace

    from transforms.kafka_io import kafka_source, keyed_json

    record = SimpleNamespace(topic="transactions.raw", partition=2, offset=41, value=b"\xff{")
    assert kafka_source(record) == ("kafka:transactions.raw:2:41", b"\xff{")
    empty = SimpleNamespace(topic="t", partition=0, offset=0, value=None)
    assert kafka_source(empty) == ("kafka:t:0:0", b"")
    assert keyed_json({"customer_id": "C-1", "note": "é"}, "customer_id") == (
        b"C-1",
        '{"customer_id":"C-1","note":"é"}'.encode(),
    )
    assert keyed_json({"dlq_id": None}, "dlq_id")[0] == b""


def test_a_fraud_option_is_not_read_as_a_prefix_of_a_kafka_option() -> None:
    # Beam parses each options class alone: --blacklist must not become the changes topic.
    options = PipelineOptions(["--blacklist=list.csv", "--feedback=f.jsonl"])
    kafka = options.view_as(KafkaOptions)
    assert (kafka.blacklist_changes_topic, kafka.feedback_topic) == (
        "reference.blacklist",
        "fraud.feedback",
    )
