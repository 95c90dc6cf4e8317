"""The live path's options and launch checks: ``--kafka_bootstrap_servers`` and friends.

With ``--kafka_bootstrap_servers`` the job reads the events, the confirmed outcomes
(feedback) and the blacklist changes from Kafka topics instead of files and also writes alerts
and dead letters to topics. Beam's Kafka IO is Java, expanded by an expansion service
(``scripts/kafka.sh expansion-address`` in a checkout, else ``--kafka_expansion_service``) and
run by Flink, so the live path needs ``--runner=FlinkRunner --streaming``. Before the job
starts, the broker must answer and the topics must exist: a broker that is down ends the launch
with one line, not a job that retries in the background.

Credentials never travel as option values (Flink shows options in its web UI): the Kafka
clients on the workers read them through Kafka's own config providers, e.g.
``--kafka_client_config 'sasl.jaas.config=${file:/etc/streamflow/kafka.properties:jaas}'``
with the file mounted from a Secret (docs/kafka.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines.flink import is_flink
from pipelines.options import LaunchError
from pipelines.service_scripts import SCRIPTS, script_output
from transforms.kafka_io import ANCHOR_KEY
from transforms.realtime_metrics import DEFAULT_ALLOWED_LATENESS_S

_LOG = logging.getLogger(__name__)

# How often a running job's control topics get an anchor (keep_anchoring): the longest a job
# restored from an early checkpoint can wait for its control partitions' watermarks.
CONTROL_HEARTBEAT_S = 15.0

EXPANSION_SERVICE_ENV = "STREAMFLOW_KAFKA_EXPANSION_SERVICE"
KAFKA_SCRIPT = SCRIPTS / "kafka.sh"
DEFAULT_INPUT_TOPIC = "transactions.raw"
DEFAULT_ALERTS_TOPIC = "fraud.alerts"
DEFAULT_DLQ_TOPIC = "streamflow.dlq"
DEFAULT_FEEDBACK_TOPIC = "fraud.feedback"
DEFAULT_BLACKLIST_CHANGES_TOPIC = "reference.blacklist"
DEFAULT_RULES_TOPIC = "reference.rules"
DEFAULT_METRICS_TOPIC = "metrics.realtime"
DEFAULT_CONSUMER_GROUP = "streamflow-fraud"
# Client settings that would hold a secret: they must come through a config provider.
_SECRET_SETTINGS = ("password", "sasl.jaas.config", "secret", "token")


class KafkaOptions(PipelineOptions):  # type: ignore[misc]
    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        # Beam parses each options class's flags alone, and argparse takes a unique prefix for
        # the whole flag: --blacklist (FraudOptions) would be read as --blacklist_changes_topic.
        parser.allow_abbrev = False
        parser.add_argument(
            "--kafka_bootstrap_servers",
            help="Read the events from Kafka (host:port[,...]) instead of --input, and also "
            "write alerts and dead letters to Kafka. Needs --runner=FlinkRunner --streaming.",
        )
        parser.add_argument(
            "--input_topic",
            default=DEFAULT_INPUT_TOPIC,
            help="The card transactions (the --input contract), one JSON event per record.",
        )
        parser.add_argument(
            "--alerts_topic",
            default=DEFAULT_ALERTS_TOPIC,
            help="Where alerts are published, keyed by customer_id.",
        )
        parser.add_argument(
            "--dlq_topic",
            default=DEFAULT_DLQ_TOPIC,
            help="Where dead letters are published, keyed by dlq_id.",
        )
        parser.add_argument(
            "--feedback_topic",
            default=DEFAULT_FEEDBACK_TOPIC,
            help="Confirmed outcomes (the --feedback contract), read beside the events; each "
            "record's create time should be its reported_at.",
        )
        parser.add_argument(
            "--blacklist_changes_topic",
            default=DEFAULT_BLACKLIST_CHANGES_TOPIC,
            help="Blacklist changes (the --blacklist_changes contract) on a compacted topic "
            "keyed kind:id; each record's create time should be its effective_at.",
        )
        parser.add_argument(
            "--rules_topic",
            default=DEFAULT_RULES_TOPIC,
            help="Registered rules and model versions (python -m pipelines.rules register, "
            "python -m pipelines.models register) on a compacted topic, read whole at every "
            "fresh start; each scores the events from its effective_from on.",
        )
        parser.add_argument(
            "--metrics_topic",
            default=DEFAULT_METRICS_TOPIC,
            help="Where the per-store, per-minute retail metrics are published, keyed by "
            "window_key (store|minute); each record is the minute's value so far, so keep the "
            "latest of a key. Empty: not computed.",
        )
        parser.add_argument(
            "--metrics_allowed_lateness_s",
            type=int,
            default=DEFAULT_ALLOWED_LATENESS_S,
            help="How long after its end a store minute still takes late events (and keeps "
            "its state); later ones are left out of the real-time metrics only. A replay of "
            "older data after a restart needs at least its age.",
        )
        parser.add_argument(
            "--kafka_consumer_group",
            default=DEFAULT_CONSUMER_GROUP,
            help="Consumer group whose offsets the job commits when a checkpoint completes "
            "(for lag monitoring and a fresh start; a restore uses the checkpoint's own).",
        )
        parser.add_argument(
            "--kafka_client_config",
            action="append",
            default=[],
            help="key=value setting for every Kafka client of the job (repeatable), e.g. "
            "security.protocol=SASL_SSL; secrets only through a config provider (${file:...}).",
        )
        parser.add_argument(
            "--kafka_expansion_service",
            help="host:port of the Java expansion service for Beam's Kafka IO; default "
            f"${EXPANSION_SERVICE_ENV}, else scripts/kafka.sh expansion-address.",
        )


def is_live(options: PipelineOptions) -> bool:
    return bool(options.view_as(KafkaOptions).kafka_bootstrap_servers)


def client_config(options: KafkaOptions) -> dict[str, str]:
    """The settings every Kafka client of the job gets: the bootstrap servers and
    ``--kafka_client_config``. :class:`LaunchError` for a malformed one or a literal secret."""
    config = {"bootstrap.servers": str(options.kafka_bootstrap_servers)}
    for setting in options.kafka_client_config:
        key, equals, value = setting.partition("=")
        if not equals or not key.strip():
            raise LaunchError(f"--kafka_client_config {setting!r}: expected key=value")
        key = key.strip()
        if any(word in key.lower() for word in _SECRET_SETTINGS) and "${" not in value:
            raise LaunchError(
                f"--kafka_client_config {key}: a secret must not be an option value (Flink "
                "shows options); reference it through a config provider, e.g. ${file:PATH:KEY}"
            )
        config[key] = value
    return config


def consumer_config(options: KafkaOptions) -> dict[str, str]:
    return {
        **client_config(options),
        "group.id": options.kafka_consumer_group,
        # Offsets are committed when a checkpoint completes, never on a timer: an auto-commit
        # could mark records read that the job then loses in a crash.
        "enable.auto.commit": "false",
        "auto.offset.reset": "earliest",
    }


def expansion_service(options: KafkaOptions) -> str:
    """Where the Java expansion service listens. :class:`LaunchError` if it does not answer."""
    address = options.kafka_expansion_service or os.environ.get(EXPANSION_SERVICE_ENV)
    if not address:
        address = script_output(KAFKA_SCRIPT, "expansion-address")
    if not address:
        raise LaunchError(
            "--kafka_expansion_service: no Kafka expansion service named (set "
            f"${EXPANSION_SERVICE_ENV} or run scripts/kafka.sh start in a checkout)"
        )
    if not _answers(address):
        raise LaunchError(
            f"--kafka_expansion_service {address} does not answer: run scripts/kafka.sh start"
        )
    return address


def check_live_options(argv_options: PipelineOptions) -> None:
    """The live path runs only where Beam's Java Kafka IO runs: a streaming Flink job."""
    standard = argv_options.view_as(StandardOptions)
    if not is_flink(standard.runner) or not standard.streaming:
        raise LaunchError(
            "--kafka_bootstrap_servers needs --runner=FlinkRunner --streaming (Beam's Kafka "
            "IO is Java: the in-process runner cannot run it)"
        )


def control_topics(options: KafkaOptions) -> tuple[str, ...]:
    """The topics that tell the job something at a time: read beside the events, anchored."""
    return options.feedback_topic, options.blacklist_changes_topic, options.rules_topic


def check_broker(options: KafkaOptions, timeout_s: float = 10.0) -> None:
    """The broker answers and holds the job's topics; else one line saying which is wrong."""
    try:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient
    except ImportError:
        raise LaunchError("--kafka_bootstrap_servers needs the kafka extra") from None
    try:
        # log_level 0: librdkafka would print every failed connection attempt on stderr.
        admin = AdminClient(
            {**client_config(options), "socket.timeout.ms": int(timeout_s * 1000), "log_level": 0}
        )
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as error:
        raise LaunchError(
            f"--kafka_bootstrap_servers {options.kafka_bootstrap_servers}: the broker does "
            f"not answer ({error.args[0].str() if error.args else error})"
        ) from None
    missing = [
        topic
        for topic in (
            options.input_topic,
            *control_topics(options),
            options.alerts_topic,
            options.dlq_topic,
            *([options.metrics_topic] if options.metrics_topic else []),
        )
        if topic not in metadata.topics
    ]
    if missing:
        raise LaunchError(
            f"--kafka_bootstrap_servers {options.kafka_bootstrap_servers}: no topic "
            f"{', '.join(missing)} (scripts/kafka.sh start creates the project's topics)"
        )


def anchor_control_topics(
    options: KafkaOptions, timeout_s: float = 30, producer: Any = None
) -> dict[str, int]:
    """Append one anchor record, stamped now, to every partition of the control topics
    (:func:`control_topics`); the partitions anchored per topic. :class:`LaunchError` if the broker
    refuses them: without its anchor a quiet partition would stall the job.

    Why: the control topics are read with the create-time policy (their records' own times,
    so that those already on the topic when the job starts count from their time: docs/kafka.md,
    "Feedback and blacklist changes"). A partition's watermark is then the newest time read
    from it, and a caught-up partition's moves to the wall clock, but only once it has delivered
    a record since the reader started (Beam 2.62's ``CustomTimestampPolicyWithLimitedDelay``,
    apache/beam#31085): until then it stays at its minimum and holds back every stateful step,
    and a control topic may stay quiet for weeks. The anchor, after whatever the topic already
    holds, is that record; the job's read drops it (``transforms.kafka_io.ANCHOR_KEY``).
    ``producer``: one from :func:`_anchor_producer` to reuse, or a new one.
    """
    from confluent_kafka import KafkaException

    anchored: dict[str, int] = {}
    if producer is None:
        producer = _anchor_producer(options)
    for topic in control_topics(options):
        try:
            metadata = producer.list_topics(topic, timeout=timeout_s).topics[topic]
            if metadata.error is not None:
                raise LaunchError(f"--kafka_bootstrap_servers: topic {topic}: {metadata.error}")
            failures: list[str] = []

            def delivered(error: Any, _message: Any, failures: list[str] = failures) -> None:
                if error is not None:
                    failures.append(error.str())

            for partition in sorted(metadata.partitions):
                producer.produce(
                    topic, key=ANCHOR_KEY, value=b"", partition=partition, on_delivery=delivered
                )
            undelivered = producer.flush(timeout_s)
        except KafkaException as error:
            raise LaunchError(f"--kafka_bootstrap_servers: anchoring {topic}: {error}") from None
        if undelivered or failures:
            reason = ", ".join(failures) or f"{undelivered} not delivered in {timeout_s:g} s"
            raise LaunchError(f"--kafka_bootstrap_servers: anchoring {topic}: {reason}")
        anchored[topic] = len(metadata.partitions)
    return anchored


def _anchor_producer(options: KafkaOptions) -> Any:
    """The producer that writes the anchors; :class:`LaunchError` if the client refuses its
    configuration."""
    from confluent_kafka import KafkaException, Producer  # the kafka extra; checked before

    # librdkafka would log every failed connection attempt on stderr: quiet unless the client
    # config says otherwise (a failure is one line from the caller).
    config = {"log_level": 0, **client_config(options), "enable.idempotence": True}
    try:
        return Producer(config)
    except KafkaException as error:
        raise LaunchError(f"--kafka_bootstrap_servers: anchoring: {error}") from None


def keep_anchoring(
    options: KafkaOptions, every_s: float, stop: threading.Event, first_now: bool = False
) -> None:
    """Anchor the control topics every ``every_s`` seconds (``first_now``: at once, then every)
    until ``stop`` is set.

    Why, beyond the anchor at launch: a job restored from a checkpoint restarts each partition's
    watermark from the one saved in it, and Beam 2.62's Kafka reader saves the watermark it last
    computed, not the one its records imply. A checkpoint taken in a job's first seconds can
    hold the minimum for a control partition whose anchor was already read; restored from it,
    that partition, with nothing new to read, holds every stateful step at the minimum until a
    record arrives (the killed-TaskManager drill stalled so). A failed beat is logged once until
    one succeeds again, and never ends the caller. One producer serves every beat.
    """
    producer: Any = None
    failing = False
    if not first_now and stop.wait(every_s):
        return
    while True:
        try:
            if producer is None:
                producer = _anchor_producer(options)
            anchor_control_topics(options, timeout_s=min(every_s, 30.0), producer=producer)
        except Exception as error:  # a LaunchError, or anything the client raises: one line
            if not failing:
                _LOG.warning("control topics not anchored (%s); again in %g s", error, every_s)
            failing = True
        else:
            if failing:
                _LOG.warning("control topics anchored again")
            failing = False
        if stop.wait(every_s):
            return


@contextlib.contextmanager
def control_heartbeat(
    options: KafkaOptions, every_s: float = CONTROL_HEARTBEAT_S
) -> Iterator[None]:
    """:func:`keep_anchoring` in a background thread for as long as the ``with`` block runs."""
    stop = threading.Event()
    heartbeat = threading.Thread(
        target=keep_anchoring, args=(options, every_s, stop), name="control-heartbeat", daemon=True
    )
    heartbeat.start()
    try:
        yield
    finally:
        stop.set()
        heartbeat.join(timeout=5)  # a daemon: one stuck on a broker does not hold the exit


def _answers(address: str) -> bool:
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "localhost", int(port)), timeout=5):
            return True
    except (OSError, ValueError):
        return False
