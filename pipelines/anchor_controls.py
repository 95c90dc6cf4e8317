"""Anchor the live job's control topics before it starts: ``python -m pipelines.anchor_controls``.

    python -m pipelines.anchor_controls --args_file k8s/config/fraud-pipeline.args
    python -m pipelines.anchor_controls --kafka_bootstrap_servers=HOST:PORT [--feedback_topic=...]
    python -m pipelines.anchor_controls --args_file ... --every 15

Appends one anchor record to every partition of the control topics (feedback, blacklist and
rules changes; :func:`pipelines.kafka.anchor_control_topics`; why: docs/kafka.md, "Feedback
and blacklist changes") and prints ``anchored TOPIC: N partitions`` per topic.
``python -m pipelines.fraud`` does this itself at launch; this command is for a job started
without it: the pre-built jar on Kubernetes, whose JobManager pod runs it as an init container
(k8s/base/flinkdeployment.yaml).

With ``--every SECONDS`` it anchors at once and then at that interval until SIGTERM or
SIGINT, as the launcher does while its job runs (:func:`pipelines.kafka.keep_anchoring`: a job
restored from an early checkpoint needs a new anchor); the JobManager pod runs that as a
sidecar. A failed beat is logged, and the beats go on.

The options are the pipeline's, from ``--args_file`` (the format build_pipeline_jar.py reads)
and the command line, the command line's last; only the Kafka ones are used. Exit status
(pipelines/cli.py): 0 anchored, 1 the broker does not answer or refuses the records, 2 the
command line is wrong.

Limit: this is the Python Kafka client (librdkafka). It cannot resolve the Java config-provider
references that carry credentials to the job's clients (``--kafka_client_config
'sasl.jaas.config=${file:PATH:KEY}'``), and knows no ``sasl.jaas.config``: a command line with
one is refused with one line, so against a broker that needs credentials this cannot anchor.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.cli import RUN_ERROR, CommandError, OneLineParser, os_error_reason, run_command
from pipelines.kafka import (
    KafkaOptions,
    anchor_control_topics,
    check_broker,
    client_config,
    keep_anchoring,
)
from pipelines.option_checks import check_command_line
from pipelines.options import LaunchError

TOOL = "pipelines.anchor_controls"


def read_args(path: str | Path) -> list[str]:
    """The options of an args file: one per line, blank lines and ``#`` comments skipped."""
    lines = Path(path).read_text("utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def seconds(text: str) -> float:
    """A positive, finite number of seconds (argparse names it in its error)."""
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(text)
    return value


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog=TOOL, allow_abbrev=False, description="Anchor the live job's control topics."
    )
    parser.add_argument("--args_file", help="a file of pipeline options, one per line")
    parser.add_argument(
        "--every",
        type=seconds,
        metavar="SECONDS",
        help="go on anchoring at this interval until stopped",
    )
    return parser


def kafka_options(argv: Sequence[str]) -> KafkaOptions:
    """The Kafka options of ``argv`` (``--args_file`` expanded); :class:`CommandError` if the
    command line is wrong or cannot reach a broker."""
    return _parse(argv)[1]


def _parse(argv: Sequence[str]) -> tuple[argparse.Namespace, KafkaOptions]:
    """This command's own options, and the pipeline's Kafka options (:func:`kafka_options`)."""
    command, pipeline_argv = _parser().parse_known_args(list(argv))
    args: list[str] = []
    if command.args_file:
        try:
            args = read_args(command.args_file)
        except (OSError, UnicodeDecodeError) as error:
            reason = os_error_reason(error) if isinstance(error, OSError) else str(error)
            raise CommandError(f"--args_file {reason}") from None
    args += pipeline_argv
    try:
        check_command_line(args)  # a typo would otherwise be dropped without a word
        options: KafkaOptions = PipelineOptions(args).view_as(KafkaOptions)
        if not options.kafka_bootstrap_servers:
            raise LaunchError("--kafka_bootstrap_servers: required (the broker to anchor)")
        config = client_config(options)
    except LaunchError as error:
        raise CommandError(str(error)) from None
    unresolved = sorted(key for key, value in config.items() if "${" in value)
    if unresolved:
        raise CommandError(
            f"--kafka_client_config {', '.join(unresolved)}: a config-provider reference "
            "(${...}) is resolved by the Java clients only, not by this Python client"
        )
    return command, options


def anchor(argv: Sequence[str]) -> int:
    command, options = _parse(argv)
    if command.every is not None:
        return keep_beating(options, command.every)
    try:
        check_broker(options)  # says which topic is missing, before writing to any
        anchored = anchor_control_topics(options)
    except LaunchError as error:
        raise CommandError(str(error), RUN_ERROR) from None
    for topic, partitions in anchored.items():
        print(f"anchored {topic}: {partitions} partitions", flush=True)
    return 0


def keep_beating(options: KafkaOptions, every_s: float) -> int:
    """Anchor now and every ``every_s`` seconds until SIGTERM or SIGINT, then exit 0. A broker
    that does not answer is a warning, not an exit: a sidecar that exited would be restarted in
    a loop, its pod held not ready (the init container has checked the broker and topics)."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(f"anchoring every {every_s:g} s until stopped", flush=True)
    keep_anchoring(options, every_s, stop, first_now=True)
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run_command(TOOL, lambda: anchor(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    main()
