"""``python -m pipelines.warehouse <command>``: one entry point for the warehouse's commands.

Every command takes ``--dsn`` (else ``STREAMFLOW_PG_DSN``) and exits non-zero on failure, so an
Airflow task or a cron job running it fails with it. A mistake ends it with one line on stderr
(``pipelines.warehouse: <command>: <reason>``, never the DSN's password): exit 2 for a wrong
command line, 1 for a server that does not answer or refuses (a retry may succeed); ``quality``
exits 3 for a check that measured a failure. Without ``connect_timeout`` in the DSN (or
``PGCONNECT_TIMEOUT``), a connection gives up after ``CONNECT_TIMEOUT_S``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from types import ModuleType

import psycopg

from pipelines.cli import RUN_ERROR, CommandError, OneLineParser, run_command
from pipelines.warehouse import (
    dlq_report,
    export_feedback,
    maintain,
    migrate,
    quality,
    refresh,
    register_model,
)
from pipelines.warehouse.migrate import MigrationError
from pipelines.warehouse.options import add_dsn_argument, connectable_dsn, database_error
from pipelines.warehouse.sql_files import MissingSqlError

TOOL = "pipelines.warehouse"
# libpq waits for ever on a server that does not answer; a scheduled task must not.
CONNECT_TIMEOUT_S = 10

COMMANDS: dict[str, ModuleType] = {
    "migrate": migrate,
    "refresh": refresh,
    "quality": quality,
    "maintain": maintain,
    "dlq-report": dlq_report,
    "register-model": register_model,
    "export-feedback": export_feedback,
}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=f"python -m {TOOL}", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        summary = (module.__doc__ or name).splitlines()[0]
        command = commands.add_parser(name, help=summary, description=module.__doc__)
        add_dsn_argument(command)
        module.add_arguments(command)
        command.set_defaults(module=module, command_parser=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(TOOL, lambda: run(argv))


def run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    dsn = connectable_dsn(args.command, args.dsn, CONNECT_TIMEOUT_S)
    try:
        status: int = args.module.command(dsn, args)
    except CommandError as error:
        raise CommandError(f"{args.command}: {error}", error.status) from None
    except psycopg.Error as error:
        raise database_error(args.command, error, args.dsn) from None
    except MigrationError as error:
        raise CommandError(f"{args.command}: migration refused: {error}", RUN_ERROR) from None
    except MissingSqlError as error:
        raise CommandError(f"{args.command}: {error}", RUN_ERROR) from None
    return status
