"""Publish records to Kafka, as the stores would: ``python -m pipelines.produce``.

    python -m pipelines.produce --bootstrap_servers 127.0.0.1:59092 [--input FILE | generated]
        [--kind events|feedback|blacklist_changes] [--topic T] [--rate N] [--limit N]

``--kind events`` (the default) publishes transaction events to ``transactions.raw``.
``--kind feedback`` publishes confirmed outcomes instead (the ``--feedback`` contract, e.g. the
generator's ``feedback.jsonl``) to ``fraud.feedback``: keyed by customer and stamped with
their ``reported_at``, the instant from which they count. ``--kind blacklist_changes``
publishes blacklist changes to the compacted ``reference.blacklist``, keyed ``kind:id`` and
stamped with their ``effective_at``. ``--topic`` overrides the kind's topic.

Each line of the input (JSON Lines, any Beam file system; without ``--input`` a seeded
synthetic data set, generated in memory) becomes one record, its bytes unchanged. A valid event
is keyed by its ``customer_id`` (one customer's events land on one partition, in order) and
stamped with its own event time, so that a consumer's event-time watermark follows the events.
A malformed line is published as it is, without key and stamped with the latest event time
before it: the pipeline's dead-letter queue must see it, and the watermark must not jump. The
producer is idempotent with ``acks=all``: a retried send is never written twice.

A record the client or the broker refuses (a line over the size limit, ``MSG_SIZE_TOO_LARGE``)
is reported on stderr as ``FILE:LINE: reason`` and counted, and the other records are still
delivered; records still queued when the final flush times out count as undelivered. Prints a
progress line every few seconds on long runs and, at the end, one JSON document with the
counts. Exit status: 0 every record was delivered; 3 some were refused or not delivered (the
JSON says how many, stderr which); 2 the command line is wrong (a bad value, no input file, no
such topic) and 1 the broker does not answer, both with one line on stderr and nothing sent.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, NamedTuple, TextIO

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from pipelines.cli import RUN_ERROR, CommandError, OneLineParser, Range, run_command
from pipelines.kafka import (
    DEFAULT_BLACKLIST_CHANGES_TOPIC,
    DEFAULT_FEEDBACK_TOPIC,
    DEFAULT_INPUT_TOPIC,
)
from transforms.domain.blacklist_changes import BlacklistChange, parse_blacklist_change
from transforms.domain.event_time import DEFAULT_BUSINESS_TIMEZONE, business_timezone
from transforms.domain.events import Transaction, parse_event
from transforms.domain.feedback import Feedback, parse_feedback

TOOL = "pipelines.produce"
PROGRESS_EVERY_S = 5.0
# How long the final flush waits for the broker's acknowledgements.
FLUSH_TIMEOUT_S = 60.0
# How long the broker has to answer before anything is sent.
BROKER_TIMEOUT_S = 10.0
# The exit status of a run that delivered some records but not all.
NOT_ALL_DELIVERED = 3
# Refusals named one by one on stderr and in the report; the rest are only counted.
NAMED_REFUSALS = 20


class Line(NamedTuple):
    """One input line and where it came from (``FILE:LINE``, or ``generated:N``)."""

    origin: str
    payload: bytes


@dataclass
class Tally:
    published: int = 0
    unkeyed: int = 0
    # Refused by the client (at send) or by the broker (in its delivery report).
    refused: int = 0
    # Still queued when the final flush gave up: neither delivered nor refused.
    undelivered: int = 0
    refusals: list[str] = field(default_factory=list)
    stderr: TextIO | None = None

    @property
    def failed(self) -> int:
        return self.refused + self.undelivered

    def refuse(self, origin: str, reason: str) -> None:
        self.refused += 1
        if len(self.refusals) < NAMED_REFUSALS:
            refusal = f"{origin}: {reason}"
            self.refusals.append(refusal)
            if self.stderr is not None:
                print(f"{TOOL}: refused {refusal}", file=self.stderr, flush=True)

    def on_delivery(self, origin: str) -> Callable[[KafkaError | None, Message], None]:
        """The delivery report callback of the record from ``origin``."""

        def delivered(error: KafkaError | None, message: Message) -> None:
            if error is None:
                self.published += 1
            else:
                self.refuse(origin, describe(error))

        return delivered


def describe(error: KafkaError) -> str:
    """A Kafka error as its code's name and its text: ``MSG_SIZE_TOO_LARGE: ...``."""
    return f"{error.name()}: {error.str()}"


def key_and_time(line: bytes, zone: tzinfo) -> tuple[str | None, int | None]:
    """The record key and timestamp of a line: its customer and event time when it is a valid
    event, neither when it is not (the broker then stamps it with the time it arrives)."""
    event = parse_event(line, zone)
    if isinstance(event, Transaction):
        return event.customer_id, event.event_time_ms
    return None, None


def feedback_key_and_time(line: bytes, zone: tzinfo) -> tuple[str | None, int | None]:
    """A confirmed outcome's key and timestamp: its customer and report time (a malformed one
    gets neither, like a malformed event)."""
    feedback = parse_feedback(line)
    if isinstance(feedback, Feedback):
        return feedback.customer_id, feedback.reported_at_ms
    return None, None


def change_key_and_time(line: bytes, zone: tzinfo) -> tuple[str | None, int | None]:
    """A blacklist change's key on the compacted topic (``kind:id``: the latest change of each
    customer or store is kept) and its effective time."""
    change = parse_blacklist_change(line)
    if isinstance(change, BlacklistChange):
        return change.key, change.effective_at_ms
    return None, None


KEYERS = {
    "events": key_and_time,
    "feedback": feedback_key_and_time,
    "blacklist_changes": change_key_and_time,
}
# Each kind's topic, as scripts/kafka.sh creates it and pipelines.fraud reads it.
DEFAULT_TOPICS = {
    "events": DEFAULT_INPUT_TOPIC,
    "feedback": DEFAULT_FEEDBACK_TOPIC,
    "blacklist_changes": DEFAULT_BLACKLIST_CHANGES_TOPIC,
}


def matched_paths(pattern: str) -> list[str]:
    """The files ``pattern`` names; :class:`CommandError` if it names none."""
    from apache_beam.io.filesystems import FileSystems

    try:
        (matched,) = FileSystems.match([pattern])
    except (OSError, ValueError) as error:  # BeamIOError is an OSError
        raise CommandError(f"--input {pattern}: {error}") from None
    if not matched.metadata_list:
        raise CommandError(f"--input {pattern} matches no file")
    return [metadata.path for metadata in matched.metadata_list]


def read_lines(paths: Iterable[str]) -> Iterator[Line]:
    from apache_beam.io.filesystems import FileSystems

    for path in paths:
        with FileSystems.open(path) as handle:
            for number, line in enumerate(handle, start=1):
                payload = line.rstrip(b"\r\n")
                if payload:
                    yield Line(f"{path}:{number}", payload)


def generated_lines(seed: int, customers: int, days: int) -> Iterator[Line]:
    from pipelines.synthetic.dataset import GeneratorConfig, generate_events

    dataset = generate_events(GeneratorConfig(seed=seed, customers=customers, days=days))
    for number, payload in enumerate(dataset.lines, start=1):
        yield Line(f"generated:{number}", payload)


def publish(
    producer: Any,
    topic: str,
    lines: Iterable[Line],
    zone: tzinfo,
    rate: float | None = None,
    limit: int | None = None,
    progress: TextIO | None = None,
    keyer: Any = key_and_time,
    flush_timeout_s: float = FLUSH_TIMEOUT_S,
) -> Tally:
    """Send ``lines`` to ``topic``, at most ``rate`` per second and ``limit`` in all. A record
    refused is counted and named, and the others still go; what the flush leaves queued is
    counted undelivered."""
    tally = Tally(stderr=progress)
    stream_time_ms = 0
    started = last_report = time.monotonic()
    for sent, (origin, line) in enumerate(lines):
        if limit is not None and sent >= limit:
            break
        if rate:
            # Paced against the start, not the previous send: a slow send is caught up.
            delay = started + sent / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        key, timestamp = keyer(line, zone)
        tally.unkeyed += key is None
        # A malformed line is stamped with the stream's time so far, not the wall clock: a
        # consumer's event-time watermark (the record timestamps) must not jump ahead of the
        # events still to come. The first lines of a stream, before any valid one, get the
        # broker's time.
        timestamp = timestamp or stream_time_ms
        stream_time_ms = max(stream_time_ms, timestamp or 0)
        send(producer, topic, line, key, timestamp, tally, origin)
        producer.poll(0)
        now = time.monotonic()
        if progress is not None and now - last_report >= PROGRESS_EVERY_S:
            last_report = now
            print(
                f"{sent + 1} sent, {tally.published} delivered, "
                f"{(sent + 1) / (now - started):.0f}/s",
                file=progress,
                flush=True,
            )
    # flush returns how many records are still queued: the broker never acknowledged them.
    tally.undelivered = producer.flush(flush_timeout_s)
    return tally


def send(
    producer: Any,
    topic: str,
    line: bytes,
    key: str | None,
    timestamp: int | None,
    tally: Tally,
    origin: str,
) -> None:
    """Queue one record; a record the client refuses at once (over ``message.max.bytes``)
    is counted refused, and the records queued before and after it still go."""
    while True:
        try:
            producer.produce(
                topic,
                value=line,
                key=key,
                timestamp=timestamp or 0,
                on_delivery=tally.on_delivery(origin),
            )
            return
        except BufferError:  # the local queue is full: let deliveries drain it
            producer.poll(0.5)
        except KafkaException as error:
            tally.refuse(origin, describe(error.args[0]))
            return


def check_topic(config: dict[str, Any], topic: str) -> None:
    """The broker answers and has ``topic`` (the project's broker creates no topic on first
    use, so a record to a missing one would wait out its delivery timeout)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({**config, "socket.timeout.ms": int(BROKER_TIMEOUT_S * 1000)})
    servers = config["bootstrap.servers"]
    try:
        metadata = admin.list_topics(timeout=BROKER_TIMEOUT_S)
    except KafkaException as error:
        reason = describe(error.args[0]) if error.args else str(error)
        raise CommandError(
            f"--bootstrap_servers {servers}: the broker does not answer ({reason})", RUN_ERROR
        ) from None
    if topic not in metadata.topics:
        raise CommandError(
            f"--topic {topic}: no such topic on {servers} (scripts/kafka.sh start creates the "
            "project's topics)"
        )


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog=f"python -m {TOOL}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap_servers", required=True, help="host:port[,host:port]")
    parser.add_argument(
        "--topic",
        help="Default: the kind's topic ("
        + ", ".join(f"{kind}: {topic}" for kind, topic in DEFAULT_TOPICS.items())
        + ").",
    )
    parser.add_argument("--input", help="JSONL file or glob; default: a generated data set")
    parser.add_argument(
        "--rate", type=Range(float, above=0), help="records per second at most (default: all)"
    )
    parser.add_argument(
        "--limit", type=Range(int, low=0), help="stop after this many records (default: all)"
    )
    parser.add_argument("--business_timezone", default=DEFAULT_BUSINESS_TIMEZONE)
    parser.add_argument(
        "--kind",
        choices=sorted(KEYERS),
        default="events",
        help="what the lines are: transaction events, confirmed outcomes (feedback), or "
        "blacklist changes",
    )
    parser.add_argument(
        "--seed", type=Range(int, low=0, high=2**32 - 1), default=42, help="of the generated data"
    )
    parser.add_argument(
        "--customers",
        type=Range(int, low=1, high=1_000_000),
        default=2000,
        help="of the generated data",
    )
    parser.add_argument(
        "--days", type=Range(int, low=1, high=3660), default=30, help="of the generated data"
    )
    return parser


def produce(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        zone = business_timezone(args.business_timezone)
    except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
        raise CommandError(
            f"--business_timezone {args.business_timezone}: not an IANA time zone"
        ) from None
    topic = args.topic or DEFAULT_TOPICS[args.kind]
    lines = (
        read_lines(matched_paths(args.input))
        if args.input
        else generated_lines(args.seed, args.customers, args.days)
    )
    config = {"bootstrap.servers": args.bootstrap_servers}
    check_topic(config, topic)
    producer = Producer(
        {
            **config,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "compression.type": "lz4",
        }
    )
    started = time.monotonic()
    tally = publish(
        producer, topic, lines, zone, args.rate, args.limit, sys.stderr, KEYERS[args.kind]
    )
    report: dict[str, Any] = {
        "topic": topic,
        "published": tally.published,
        "unkeyed_malformed": tally.unkeyed,
        "failed": tally.failed,
        "refused": tally.refused,
        "undelivered": tally.undelivered,
        "seconds": round(time.monotonic() - started, 1),
    }
    if tally.refusals:
        report["refusals"] = tally.refusals
    print(json.dumps(report, indent=2))
    if tally.failed:
        print(
            f"{TOOL}: {tally.failed} record(s) not delivered: {tally.refused} refused, "
            f"{tally.undelivered} still queued after {FLUSH_TIMEOUT_S:g} s",
            file=sys.stderr,
        )
        return NOT_ALL_DELIVERED
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """Exits non-zero (see the module's doc) unless every record was delivered."""
    status = run_command(TOOL, lambda: produce(argv))
    if status:
        sys.exit(status)


if __name__ == "__main__":
    main()
