"""What registering a version takes, rules or model: when it may take effect, who registers
it, and the servers it needs. Shared by ``python -m pipelines.rules`` and
``python -m pipelines.models``."""

from __future__ import annotations

import argparse
import getpass
import math
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from pipelines.cli import CommandError, os_error_reason
from pipelines.warehouse.options import connectable_dsn, database_error
from transforms.domain.effective import CHALLENGER, CHAMPION

GRACE_VARIABLE = "STREAMFLOW_RULES_GRACE_S"
DEFAULT_GRACE_S = 60.0
KAFKA_VARIABLE = "STREAMFLOW_KAFKA_BOOTSTRAP"


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


def checked_effective_from(effective_from: datetime) -> datetime:
    """``effective_from`` to the millisecond (the job compares event times in milliseconds:
    the registry keeps what the job applies), refused if sooner than the grace from now."""
    effective_from = effective_from.replace(microsecond=effective_from.microsecond // 1000 * 1000)
    earliest = datetime.now(UTC) + grace()
    if effective_from < earliest:
        raise CommandError(
            f"--effective_from {effective_from.isoformat()} is sooner than the grace a live "
            f"job needs ({grace().total_seconds():g} s): give {earliest.isoformat()} or later"
        )
    return effective_from


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container's user without a name
        raise CommandError("give --author: this process's user has no name") from None


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise CommandError(os_error_reason(error)) from None
    except UnicodeDecodeError:
        raise CommandError(f"{path}: not UTF-8 text") from None


def add_publish_arguments(parser: argparse.ArgumentParser, default_topic: str) -> None:
    parser.add_argument("--kafka_bootstrap_servers", default=os.environ.get(KAFKA_VARIABLE))
    parser.add_argument("--rules_topic", default=default_topic)


def bootstrap_servers(args: argparse.Namespace) -> str:
    if not args.kafka_bootstrap_servers:
        raise CommandError(f"give --kafka_bootstrap_servers or set {KAFKA_VARIABLE}")
    return str(args.kafka_bootstrap_servers)


def add_role_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--challenger",
        action="store_true",
        help="Score in shadow beside the champion from --effective_from, never alerting.",
    )
    parser.add_argument(
        "--until", type=instant, help="A challenger's end (default: until another replaces it)."
    )


def role_text(role: str, until: datetime | None) -> str:
    """A registration's role as ``list`` prints it."""
    return role if until is None else f"{role} until {until.isoformat()}"


def checked_role(args: argparse.Namespace, effective_from: datetime) -> tuple[str, datetime | None]:
    """``(role, effective_until)`` from ``--challenger`` and ``--until``."""
    until: datetime | None = args.until
    if until is None:
        return (CHALLENGER if args.challenger else CHAMPION), None
    if not args.challenger:
        raise CommandError("--until ends a challenger's shadow: give --challenger too")
    until = until.replace(microsecond=until.microsecond // 1000 * 1000)
    if until <= effective_from:
        raise CommandError(f"--until {until.isoformat()} is not after --effective_from")
    return CHALLENGER, until


def add_register_arguments(register: argparse.ArgumentParser, default_topic: str) -> None:
    """What ``register`` takes besides the version itself, rules or model alike."""
    register.add_argument("--effective_from", required=True, type=instant)
    register.add_argument("--note", default="", help="Why (kept in the registry).")
    register.add_argument("--author", default=None, help="Who (default: the OS user).")
    register.add_argument("--backtest", help="The backtest report this version comes from.")
    add_role_arguments(register)
    add_publish_arguments(register, default_topic)


CONNECT_TIMEOUT_S = 10
Command = Callable[[psycopg.Connection[Any], argparse.Namespace], None]


def run_on_warehouse(args: argparse.Namespace, commands: Mapping[str, Command]) -> int:
    """``args.command`` on the warehouse (``--dsn``); every failure one line."""
    dsn = connectable_dsn(args.command, args.dsn, CONNECT_TIMEOUT_S)
    try:
        with psycopg.connect(dsn, autocommit=True) as connection:
            commands[args.command](connection, args)
    except CommandError as error:
        raise CommandError(f"{args.command}: {error}", error.status) from None
    except psycopg.Error as error:
        raise database_error(args.command, error, args.dsn) from None
    return 0
