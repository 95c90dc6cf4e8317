"""``python -m pipelines.rules``: register a rules version to take effect at an instant, and
list, show, compare and export the registered ones.

    python -m pipelines.rules register FILE --effective_from 2026-12-07T09:00:00Z --note "..."
    python -m pipelines.rules list
    python -m pipelines.rules show VERSION          # a registration id or a rules-… version
    python -m pipelines.rules diff A B              # ids, versions, or "defaults"
    python -m pipelines.rules export --output registry.jsonl   # model versions too

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
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import psycopg

from pipelines.cli import RUN_ERROR, CommandError, OneLineParser, os_error_reason, run_command
from pipelines.kafka import DEFAULT_RULES_TOPIC
from pipelines.rules import store
from pipelines.rules.publish import publish_registration
from pipelines.rules.registration import (
    add_register_arguments,
    bootstrap_servers,
    checked_effective_from,
    checked_role,
    millis,
    os_user,
    read_text,
    role_text,
    run_on_warehouse,
)
from pipelines.rules.registry_file import registry_lines
from pipelines.warehouse.options import add_dsn_argument
from transforms.domain.config import RulesConfig, default_rules, rules_from_text
from transforms.domain.effective import CHAMPION
from transforms.domain.rules_registry import (
    RulesChange,
    encode_rules_change,
    new_rules_change,
    parse_compatible_rules_change,
)
from transforms.sinks import write_text

TOOL = "pipelines.rules"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=f"python -m {TOOL}", description=__doc__.splitlines()[0])
    add_dsn_argument(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register = commands.add_parser("register", help="Register and publish a version.")
    register.add_argument("file", help="The complete rules file (YAML over the defaults).")
    register.add_argument(
        "--base",
        help="The live job's --rules file, to check the version against (default: the latest "
        "registered version, else the packaged defaults).",
    )
    add_register_arguments(register, DEFAULT_RULES_TOPIC)
    commands.add_parser("list", help="Every registered version, in effective order.")
    show = commands.add_parser("show", help="A version's rules file.")
    show.add_argument("version", help="A registration id or a rules-… version.")
    diff = commands.add_parser("diff", help="What differs between two versions' settings.")
    diff.add_argument("a", help='A registration id, a rules-… version, or "defaults".')
    diff.add_argument("b")
    export = commands.add_parser(
        "export",
        help="The registry (rules and model versions) as a --rules_changes file; prints "
        "{exported, output} as JSON.",
    )
    export.add_argument("--output", required=True, help="JSONL file to write ('-': stdout).")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(TOOL, lambda: run(argv))


def run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"register": register, "list": list_, "show": show, "diff": diff, "export": export}
    return run_on_warehouse(args, commands)


def _base(connection: psycopg.Connection[Any], base_file: str | None) -> RulesConfig:
    if base_file:
        try:
            return rules_from_text(read_text(base_file))
        except ValueError as error:
            raise CommandError(f"--base {base_file}: {error}") from None
    latest = store.latest_champion(connection)
    return _stored(latest) if latest else default_rules()


def register(connection: psycopg.Connection[Any], args: argparse.Namespace) -> None:
    effective_from = checked_effective_from(args.effective_from)
    role, until = checked_role(args, effective_from)
    servers = bootstrap_servers(args)
    text = read_text(args.file)
    author = args.author or os_user()
    at = millis(effective_from)
    try:
        candidate = new_rules_change(text, at, at - 1, author, args.note)
        candidate = replace(
            candidate, role=role, effective_until_ms=None if until is None else millis(until)
        )
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
    row = store.insert(connection, candidate, effective_from, args.backtest, until)
    try:
        publish_registration(connection, row, servers, args.rules_topic)
    except CommandError:
        store.delete(connection, row.registration_id)
        raise
    shadow = "" if row.role == CHAMPION else " as a challenger in shadow"
    print(
        f"registered {row.rules_version} as {row.registration_id}{shadow}, effective from "
        f"{row.effective_from.isoformat()}, published to {args.rules_topic}"
    )


def list_(connection: psycopg.Connection[Any], _args: argparse.Namespace) -> None:
    print("id\trules_version\teffective_from\tregistered_at\tauthor\tpublished\tnote\trole")
    for row in store.registrations(connection):
        published = "yes" if row.published_at else "no"
        note = " ".join(row.note.split())  # one line, no tab: a row per version
        print(
            f"{row.registration_id}\t{row.rules_version}\t{row.effective_from.isoformat()}\t"
            f"{row.registered_at.isoformat()}\t{row.author}\t{published}\t{note}\t"
            f"{role_text(row.role, row.effective_until)}"
        )


def _stored(row: store.Registration) -> RulesConfig:
    """A stored version's rules; one line if this release can no longer read its text."""
    try:
        return rules_from_text(row.rules_text)
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
    """The versions live jobs were told (published), rules and models in the order they take
    effect, as a --rules_changes file."""
    try:
        records = registry_lines(connection)
    except ValueError as error:
        raise CommandError(f"a stored version: {error}", RUN_ERROR) from None
    text = "".join(f"{record.decode()}\n" for record in records)
    if args.output == "-":
        sys.stdout.write(text)
        return
    try:
        write_text(args.output, text)
    except OSError as error:
        raise CommandError(os_error_reason(error)) from None
    print(json.dumps({"exported": len(records), "output": args.output}))
