"""Publish transaction events to Kafka, as the stores would: ``python -m pipelines.produce``.

    python -m pipelines.produce --bootstrap_servers 127.0.0.1:59092 [--input FILE | generated]
        [--topic transactions.raw] [--rate N] [--limit N]
        [--kind events|feedback|blacklist_changes]

``--kind feedback`` publishes confirmed outcomes instead (the ``--feedback`` contract, e.g. the
generator's ``feedback.jsonl``, to ``fraud.feedback``): keyed by customer and stamped with
their ``reported_at``, the instant from which they count. ``--kind blacklist_changes``
publishes blacklist changes (to the compacted ``reference.blacklist``), keyed ``kind:id`` and
stamped with their ``effective_at``.

Each line of the input (JSON Lines, any Beam file system; without ``--input`` a seeded
synthetic data set, generated in memory) becomes one record, its bytes unchanged. A valid event
is keyed by its ``customer_id`` (one customer's events land on one partition, in order) and
stamped with its own event time, so that a consumer's event-time watermark follows the events.
A malformed line is published as it is, without key and stamped with the latest event time
before it: the pipeline's dead-letter queue must see it, and the watermark must not jump. The
producer is idempotent with ``acks=all``: a retried send is never written twice. Prints a
progress line every few seconds on long runs and, at the end, one JSON document with the
counts; exits non-zero if any record was not delivered.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from transforms.domain.blacklist_changes import BlacklistChange, parse_blacklist_change
from transforms.domain.event_time import DEFAULT_BUSINESS_TIMEZONE, business_timezone
from transforms.domain.events import Transaction, parse_event
from transforms.domain.feedback import Feedback, parse_feedback

DEFAULT_TOPIC = "transactions.raw"
PROGRESS_EVERY_S = 5.0


@dataclass
class Tally:
    published: int = 0
    unkeyed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.published += 1
            return
        self.failed += 1
        if len(self.errors) < 5:
            self.errors.append(str(error))


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


def read_lines(pattern: str) -> Iterator[bytes]:
    from apache_beam.io.filesystems import FileSystems

    for match in FileSystems.match([pattern])[0].metadata_list:
        with FileSystems.open(match.path) as handle:
            for line in handle:
                payload = line.rstrip(b"\r\n")
                if payload:
                    yield payload


def generated_lines(seed: int, customers: int, days: int) -> Iterator[bytes]:
    from pipelines.synthetic.dataset import GeneratorConfig, generate_events

    yield from generate_events(GeneratorConfig(seed=seed, customers=customers, days=days)).lines


def publish(
    producer: Any,
    topic: str,
    lines: Iterable[bytes],
    zone: tzinfo,
    rate: float | None = None,
    limit: int | None = None,
    progress: Any = None,
    keyer: Any = key_and_time,
) -> Tally:
    """Send ``lines`` to ``topic``, at most ``rate`` per second and ``limit`` in all."""
    tally = Tally()
    stream_time_ms = 0
    started = last_report = time.monotonic()
    for sent, line in enumerate(lines):
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
        while True:
            try:
                producer.produce(
                    topic,
                    value=line,
                    key=key,
                    timestamp=timestamp or 0,
                    on_delivery=tally.delivered,
                )
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.5)
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
    producer.flush(60)
    return tally


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.produce", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--bootstrap_servers", required=True, help="host:port[,host:port]")
    parser.add_argument("--topic", default=DEFAULT_TOPIC)
    parser.add_argument("--input", help="JSONL file or glob; default: a generated data set")
    parser.add_argument("--rate", type=float, help="events per second at most (default: all)")
    parser.add_argument("--limit", type=int, help="stop after this many events")
    parser.add_argument("--business_timezone", default=DEFAULT_BUSINESS_TIMEZONE)
    parser.add_argument(
        "--kind",
        choices=sorted(KEYERS),
        default="events",
        help="what the lines are: transaction events, confirmed outcomes (feedback), or "
        "blacklist changes",
    )
    parser.add_argument("--seed", type=int, default=42, help="of the generated data")
    parser.add_argument("--customers", type=int, default=2000, help="of the generated data")
    parser.add_argument("--days", type=int, default=30, help="of the generated data")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    zone = business_timezone(args.business_timezone)
    lines = (
        read_lines(args.input)
        if args.input
        else generated_lines(args.seed, args.customers, args.days)
    )
    producer = Producer(
        {
            "bootstrap.servers": args.bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "compression.type": "lz4",
        }
    )
    started = time.monotonic()
    tally = publish(
        producer, args.topic, lines, zone, args.rate, args.limit, sys.stderr, KEYERS[args.kind]
    )
    report = {
        "topic": args.topic,
        "published": tally.published,
        "unkeyed_malformed": tally.unkeyed,
        "failed": tally.failed,
        "seconds": round(time.monotonic() - started, 1),
    }
    if tally.errors:
        report["errors"] = tally.errors
    print(json.dumps(report, indent=2))
    if tally.failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
