"""``python -m pipelines.models``: register a model version to take effect at an instant, and
list the registered ones.

    python -m pipelines.models register LOCATION --effective_from 2026-12-07T09:00:00Z --note "..."
    python -m pipelines.models list

``LOCATION`` is the artifact's folder on any Beam file system (a local path is made absolute,
a link resolved): workers read it from there, so it must stay as long as a replay may need it
(ml.promote deletes its releases two promotions later: register a lasting copy, as the
model_retrain DAG does). Rolling back is registering the earlier version again. The warehouse
from ``--dsn`` (else ``STREAMFLOW_PG_DSN``); ``register`` publishes to ``--rules_topic`` on
``--kafka_bootstrap_servers`` (else ``STREAMFLOW_KAFKA_BOOTSTRAP``), and a version is
registered only once the broker has it; ``register`` prints it as JSON. Refused with one line
and exit 2: an artifact that does not load (missing, corrupt, replaced, of another release's
features), or an ``effective_from`` sooner than the grace (``STREAMFLOW_RULES_GRACE_S``,
default 60 s). Exit 1: a server did not answer.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import Any

import psycopg

from pipelines.cli import CommandError, OneLineParser, run_command
from pipelines.kafka import DEFAULT_RULES_TOPIC
from pipelines.models import store
from pipelines.rules.publish import publish
from pipelines.rules.registration import (
    add_register_arguments,
    bootstrap_servers,
    checked_effective_from,
    checked_role,
    millis,
    os_user,
    role_text,
    run_on_warehouse,
)
from pipelines.warehouse.options import add_dsn_argument
from transforms.domain.model_registry import ModelChange, encode_model_change, parse_model_change
from transforms.read import read_bytes

TOOL = "pipelines.models"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=f"python -m {TOOL}", description=__doc__.splitlines()[0])
    add_dsn_argument(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register = commands.add_parser("register", help="Register and publish a model version.")
    register.add_argument("location", help="The artifact's folder (any Beam file system).")
    add_register_arguments(register, DEFAULT_RULES_TOPIC)
    commands.add_parser("list", help="Every registered version, in effective order.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(TOOL, lambda: run(argv))


def run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"register": register, "list": list_}
    return run_on_warehouse(args, commands)


def _absolute(location: str) -> str:
    """Workers resolve a location on their own machine: a local path is made absolute, and a
    link is resolved (a link such as ml.promote's model_dir moves to another model later)."""
    return location if "://" in location else os.path.realpath(location)


def loaded_artifact(location: str) -> tuple[str, str, dict[str, Any]]:
    """The artifact's model version, model SHA-256 and metadata, verified as a worker will
    verify it; :class:`CommandError` (one line) if it is unusable."""
    try:
        from ml.artifact import ArtifactError, load_artifact, read_artifact_files
    except ImportError as error:  # the ml extra is not installed
        raise CommandError(f"{location}: cannot load models ({error})") from None
    try:
        artifact = load_artifact(read_artifact_files(location, read_bytes))
    except ArtifactError as error:
        raise CommandError(error.message) from None
    return artifact.model_version, str(artifact.metadata["model_sha256"]), artifact.metadata


def register(connection: psycopg.Connection[Any], args: argparse.Namespace) -> None:
    effective_from = checked_effective_from(args.effective_from)
    role, until = checked_role(args, effective_from)
    servers = bootstrap_servers(args)
    location = _absolute(args.location)
    version, sha256, metadata = loaded_artifact(location)
    at = millis(effective_from)
    author = args.author or os_user()
    until_ms = None if until is None else millis(until)
    candidate = ModelChange(
        version, sha256, location, at, at - 1, author, args.note, role, until_ms
    )
    # Read as the job will read it: refused here, never dead-lettered there.
    told = parse_model_change(encode_model_change(candidate))
    if not isinstance(told, ModelChange):
        raise CommandError(f"{args.location}: {told.message}")
    # Committed, then published, then marked, as rules versions are (pipelines.rules).
    row = store.insert(connection, candidate, effective_from, args.backtest, metadata, until)
    change = row.change()
    try:
        publish(
            servers,
            args.rules_topic,
            f"model-{row.registry_id}",
            encode_model_change(change),
            change.registered_at_ms,
        )
    except CommandError:
        store.delete(connection, row.registry_id)
        raise
    store.mark_published(connection, row.registry_id)
    # JSON, as the model_retrain DAG reads it.
    registered = {
        "registered": f"model-{row.registry_id}",
        "model_version": row.model_version,
        "location": row.location,
        "effective_from": row.effective_from.isoformat(),
        "role": row.role,
        "effective_until": None if row.effective_until is None else row.effective_until.isoformat(),
        "published_to": args.rules_topic,
    }
    print(json.dumps(registered))


def list_(connection: psycopg.Connection[Any], _args: argparse.Namespace) -> None:
    print(
        "id\tmodel_version\teffective_from\tregistered_at\tauthor\tpublished\tlocation\tnote\trole"
    )
    for row in store.registrations(connection):
        published = "yes" if row.published_at else "no"
        note = " ".join(row.note.split())  # one line, no tab: a row per version
        print(
            f"model-{row.registry_id}\t{row.model_version}\t{row.effective_from.isoformat()}\t"
            f"{row.registered_at.isoformat()}\t{row.author}\t{published}\t{row.location}\t{note}"
            f"\t{role_text(row.role, row.effective_until)}"
        )
