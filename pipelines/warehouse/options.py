"""Options every warehouse command shares: the DSN and the [since, until) window.

A DSN may hold a password: no message quotes a DSN, and a driver's message passes through
:func:`redacted` first.
"""

from __future__ import annotations

import argparse
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pipelines.cli import RUN_ERROR, CommandError

DSN_VARIABLE = "STREAMFLOW_PG_DSN"
DEFAULT_WINDOW = timedelta(days=1)
# A password in a URI's user info or a key=value DSN, for messages that might quote one.
_PASSWORD_PATTERNS = (
    re.compile(r"(://[^:/@\s]*:)[^@\s]*@"),
    re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE),
)


class InvalidDsnError(ValueError):
    """A DSN libpq cannot parse; the message does not quote it (it may hold a password)."""


def dsn_from_environment() -> str | None:
    return os.environ.get(DSN_VARIABLE) or None


def add_dsn_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dsn",
        default=dsn_from_environment(),
        help=f"PostgreSQL connection string (default: ${DSN_VARIABLE}).",
    )


def connectable_dsn(command: str, dsn: str | None, timeout_s: int) -> str:
    """``dsn`` with a connection timeout, or a :class:`CommandError` naming what is wrong."""
    if not dsn:
        raise CommandError(f"{command}: give --dsn or set {DSN_VARIABLE}")
    try:
        return with_connect_timeout(dsn, timeout_s)
    except InvalidDsnError as error:
        raise CommandError(f"{command}: {error}") from None


def database_error(command: str, error: Exception, dsn: str) -> CommandError:
    """A server's or driver's error as one line without the DSN's password; a retry may do."""
    reason = redacted(str(error), dsn) or type(error).__name__
    return CommandError(f"{command}: {reason}", RUN_ERROR)


def iso_instant(text: str) -> datetime:
    """An ISO-8601 instant, as an argparse ``type`` (one line when it is not one)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 instant") from None


def add_window_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--until",
        type=iso_instant,
        default=datetime.now(UTC),
        help="End of the window, ISO-8601, exclusive (default: now).",
    )
    parser.add_argument(
        "--since",
        type=iso_instant,
        help="Start of the window, ISO-8601 (default: 24 hours before --until).",
    )


def window(args: argparse.Namespace) -> tuple[datetime, datetime]:
    until: datetime = args.until
    since: datetime = args.since or until - DEFAULT_WINDOW
    try:
        empty = since >= until
    except TypeError:  # one with a UTC offset, the other without
        raise CommandError("--since and --until: give both with a UTC offset, or neither") from None
    if empty:
        raise CommandError(f"--since {since.isoformat()} is not before --until {until.isoformat()}")
    return since, until


def dsn_settings(dsn: str) -> dict[str, Any]:
    """The DSN's settings; :class:`InvalidDsnError` if libpq cannot parse it (psycopg's own
    message quotes the part it stumbled on, which may be the password)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        return conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        raise InvalidDsnError("--dsn is not a valid PostgreSQL connection string") from None


def with_connect_timeout(dsn: str, seconds: int) -> str:
    """``dsn`` with a connection timeout of ``seconds`` unless it or ``PGCONNECT_TIMEOUT``
    sets one: libpq would wait for ever on a server that does not answer."""
    from psycopg.conninfo import make_conninfo

    if "connect_timeout" in dsn_settings(dsn) or os.environ.get("PGCONNECT_TIMEOUT"):
        return dsn
    return make_conninfo(dsn, connect_timeout=seconds)


def redacted(message: str, dsn: str) -> str:
    """``message`` without the DSN's password, should a server or driver quote it."""
    try:
        password = dsn_settings(dsn).get("password")
    except InvalidDsnError:
        password = None
    if password:
        message = message.replace(str(password), "***")
    for pattern in _PASSWORD_PATTERNS:
        message = pattern.sub(r"\1***", message)
    return message.strip()
