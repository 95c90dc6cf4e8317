"""``python -m pipelines.rules``: register a rules version to take effect at an instant, and
list, show, compare and export the registered ones.

    python -m pipelines.rules register FILE --effective_from 2026-12-07T09:00:00Z --note "..."
    python -m pipelines.rules list
    python -m pipelines.rules show VERSION          # a registration id or a rules-… version
    python -m pipelines.rules diff A B              # ids, versions, or "defaults"
    python -m pipelines.rules export --output registry.jsonl

The warehouse from ``--dsn`` (else ``STREAMFLOW_PG_DSN``); ``register`` also publishes to
``--rules_topic`` on ``--kafka_bootstrap_servers`` (else ``STREAMFLOW_KAFKA_BOOTSTRAP``), and
a version is registered only once the broker has it. A registration is refused, with one line
and exit 2, when the file is not a valid rules file, when it changes what the job's state keeps
(docs/rules.md), or when it would take effect sooner than the grace from now
(``STREAMFLOW_RULES_GRACE_S``, default 60 s): the time a live job needs to have the version in
every shard before its watermark reaches the effective time. Exit 1: a server did not answer.
"""

from __future__ import annotations

import argparse
import difflib
import getpass
import json
import math
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from pipelines.cli import RUN_ERROR, CommandError, OneLineParser, os_error_reason, run_command
from pipelines.kafka import DEFAULT_RULES_TOPIC
from pipelines.rules import store
from pipelines.rules.publish import publish
from pipelines.warehouse.options import add_dsn_argument, connectable_dsn, database_error
from transforms.domain.config import RulesConfig, default_rules, rules_from_text
from transforms.domain.rules_registry import (
    RulesChange,
    encode_rules_change,
    new_rules_change,
    parse_compatible_rules_change,
)
from transforms.sinks import write_text

TOOL = "pipelines.rules"
GRACE_VARIABLE = "STREAMFLOW_RULES_GRACE_S"
DEFAULT_GRACE_S = 60.0
KAFKA_VARIABLE = "STREAMFLOW_KAFKA_BOOTSTRAP"
CONNECT_TIMEOUT_S = 10


def grace() -> timedelta:
    text = os.environ.get(GRACE_VARIABLE)
    try:
        seconds = float(text) if text else DEFAULT_GRACE_S
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise CommandError(f"${GRACE_VARIABLE} {text!r} is not a number of seconds")
    return timedelta(seconds=seconds)


def instant(text: str) -> datetime:
    """An ISO-8601 instant with its UTC offset, as an argparse ``type``."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 instant") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset (say Z for UTC)")
    return moment


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=f"python -m {TOOL}", description=__doc__.splitlines()[0])
    add_dsn_argument(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register = commands.add_parser("register", help="Register and publish a version.")
    register.add_argument("file", help="The complete rules file (YAML over the defaults).")
    register.add_argument("--effective_from", required=True, type=instant)
    register.add_argument("--note", default="", help="Why (kept in the registry).")
    register.add_argument("--author", default=None, help="Who (default: the OS user).")
    register.add_argument("--backtest", help="The backtest report this version comes from.")
    register.add_argument(
        "--base",
        help="The live job's --rules file, to check the version against (default: the latest "
        "registered version, else the packaged defaults).",
    )
    register.add_argument("--kafka_bootstrap_servers", default=os.environ.get(KAFKA_VARIABLE))
    register.add_argument("--rules_topic", default=DEFAULT_RULES_TOPIC)
    commands.add_parser("list", help="Every registered version, in effective order.")
    show = commands.add_parser("show", help="A version's rules file.")
    show.add_argument("version", help="A registration id or a rules-… version.")
    diff = commands.add_parser("diff", help="What differs between two versions' settings.")
    diff.add_argument("a", help='A registration id, a rules-… version, or "defaults".')
    diff.add_argument("b")
    export = commands.add_parser(
        "export",
        help="The registry as a --rules_changes file; prints {exported, output} as JSON.",
    )
    export.add_argument("--output", required=True, help="JSONL file to write ('-': stdout).")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(TOOL, lambda: run(argv))


def run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    dsn = connectable_dsn(args.command, args.dsn, CONNECT_TIMEOUT_S)
    commands = {"register": register, "list": list_, "show": show, "diff": diff, "export": export}
    try:
        with psycopg.connect(dsn, autocommit=True) as connection:
            commands[args.command](connection, args)
    except CommandError as error:
        raise CommandError(f"{args.command}: {error}", error.status) from None
    except psycopg.Error as error:
        raise database_error(args.command, error, args.dsn) from None
    return 0


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise CommandError(os_error_reason(error)) from None
    except UnicodeDecodeError:
        raise CommandError(f"{path}: not UTF-8 text") from None


def _base(connection: psycopg.Connection[Any], base_file: str | None) -> RulesConfig:
    if base_file:
        try:
            return rules_from_text(_read_text(base_file))
        except ValueError as error:
            raise CommandError(f"--base {base_file}: {error}") from None
    registered = store.registrations(connection, published_only=True)
    return _stored(registered[-1]) if registered else default_rules()


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container's user without a name
        raise CommandError("give --author: this process's user has no name") from None


def register(connection: psycopg.Connection[Any], args: argparse.Namespace) -> None:
    # Milliseconds, as the job compares event times: the registry keeps what the job applies.
    effective_from: datetime = args.effective_from
    effective_from = effective_from.replace(microsecond=effective_from.microsecond // 1000 * 1000)
    earliest = datetime.now(UTC) + grace()
    if effective_from < earliest:
        raise CommandError(
            f"--effective_from {effective_from.isoformat()} is sooner than the grace a live "
            f"job needs ({grace().total_seconds():g} s): give {earliest.isoformat()} or later"
        )
    if not args.kafka_bootstrap_servers:
        raise CommandError(f"give --kafka_bootstrap_servers or set {KAFKA_VARIABLE}")
    text = _read_text(args.file)
    author = args.author or _os_user()
    millis = int(effective_from.timestamp() * 1000)
    try:
        candidate = new_rules_change(text, millis, millis - 1, author, args.note)
    except ValueError as error:
        raise CommandError(f"{args.file}: {error}") from None
    # Read as the job will read it: refused here, never dead-lettered there.
    told = parse_compatible_rules_change(
        encode_rules_change(candidate), _base(connection, args.base)
    )
    if not isinstance(told, RulesChange):
        raise CommandError(f"{args.file}: {told.message}")
    # Committed first, then published, then marked: a version on the topic is always in the
    # registry; one the broker refused is deleted again (export reads published rows only).
    row = store.insert(connection, candidate, effective_from, args.backtest)
    try:
        publish(args.kafka_bootstrap_servers, args.rules_topic, row.registration_id, row.change())
    except CommandError:
        store.delete(connection, row.registration_id)
        raise
    store.mark_published(connection, row.registration_id)
    print(
        f"registered {row.rules_version} as {row.registration_id}, effective from "
        f"{row.effective_from.isoformat()}, published to {args.rules_topic}"
    )


def list_(connection: psycopg.Connection[Any], _args: argparse.Namespace) -> None:
    print("id\trules_version\teffective_from\tregistered_at\tauthor\tpublished\tnote")
    for row in store.registrations(connection):
        published = "yes" if row.published_at else "no"
        note = " ".join(row.note.split())  # one line, no tab: a row per version
        print(
            f"{row.registration_id}\t{row.rules_version}\t{row.effective_from.isoformat()}\t"
            f"{row.registered_at.isoformat()}\t{row.author}\t{published}\t{note}"
        )


def _stored(row: store.Registration) -> RulesConfig:
    """A stored version's rules; one line if this release can no longer read its text."""
    try:
        return rules_from_text(row.rules_text)
    except ValueError as error:
        raise CommandError(f"registration {row.registration_id}: {error}", RUN_ERROR) from None


def _change(row: store.Registration) -> RulesChange:
    try:
        return row.change()
    except ValueError as error:
        raise CommandError(f"registration {row.registration_id}: {error}", RUN_ERROR) from None


def _found(connection: psycopg.Connection[Any], reference: str) -> store.Registration:
    row = store.find(connection, reference)
    if row is None:
        raise CommandError(f"no registered version {reference}")
    return row


def show(connection: psycopg.Connection[Any], args: argparse.Namespace) -> None:
    sys.stdout.write(_found(connection, args.version).rules_text)


def _settings(connection: psycopg.Connection[Any], reference: str) -> list[str]:
    """The version's effective settings (defaults merged) as sorted ``name: value`` lines."""
    config = default_rules() if reference == "defaults" else _stored(_found(connection, reference))
    lines: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if hasattr(value, "__dataclass_fields__"):
            for name in value.__dataclass_fields__:
                walk(f"{prefix}{name}.", getattr(value, name))
        else:
            lines.append(f"{prefix[:-1]}: {value}")

    walk("", config)
    return sorted(line for line in lines if not line.startswith("rules_version:"))


def diff(connection: psycopg.Connection[Any], args: argparse.Namespace) -> None:
    a, b = _settings(connection, args.a), _settings(connection, args.b)
    for line in difflib.unified_diff(a, b, args.a, args.b, lineterm="", n=0):
        print(line)


def export(connection: psycopg.Connection[Any], args: argparse.Namespace) -> None:
    """The versions live jobs were told (published), as a --rules_changes file."""
    rows = store.registrations(connection, published_only=True)
    text = "".join(f"{encode_rules_change(_change(row)).decode()}\n" for row in rows)
    if args.output == "-":
        sys.stdout.write(text)
        return
    try:
        write_text(args.output, text)
    except OSError as error:
        raise CommandError(os_error_reason(error)) from None
    print(json.dumps({"exported": len(rows), "output": args.output}))
