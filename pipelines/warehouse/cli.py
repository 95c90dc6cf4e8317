"""``python -m pipelines.warehouse <command>``: one entry point for the warehouse's commands.

Every command takes ``--dsn`` (else ``STREAMFLOW_PG_DSN``) and exits non-zero on failure, so an
Airflow task or a cron job running it fails with it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from pipelines.warehouse import (
    dlq_report,
    maintain,
    migrate,
    quality,
    refresh,
    register_model,
)
from pipelines.warehouse.options import add_dsn_argument, required_dsn
from pipelines.warehouse.sql_files import MissingSqlError

COMMANDS: dict[str, ModuleType] = {
    "migrate": migrate,
    "refresh": refresh,
    "quality": quality,
    "maintain": maintain,
    "dlq-report": dlq_report,
    "register-model": register_model,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.warehouse", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        summary = (module.__doc__ or name).splitlines()[0]
        command = commands.add_parser(name, help=summary, description=module.__doc__)
        add_dsn_argument(command)
        module.add_arguments(command)
        command.set_defaults(module=module, command_parser=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    dsn = required_dsn(args.command_parser, args)
    try:
        status: int = args.module.command(dsn, args)
    except MissingSqlError as error:
        print(f"{args.command}: {error}", file=sys.stderr)
        return 1
    return status
