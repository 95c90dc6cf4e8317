"""Options every warehouse command shares: the DSN and the [since, until) window."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime, timedelta

DSN_VARIABLE = "STREAMFLOW_PG_DSN"
DEFAULT_WINDOW = timedelta(days=1)


def dsn_from_environment() -> str | None:
    return os.environ.get(DSN_VARIABLE) or None


def add_dsn_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dsn",
        default=dsn_from_environment(),
        help=f"PostgreSQL connection string (default: ${DSN_VARIABLE}).",
    )


def required_dsn(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    if not args.dsn:
        parser.error(f"give --dsn or set {DSN_VARIABLE}")
    return str(args.dsn)


def add_window_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--until",
        type=datetime.fromisoformat,
        default=datetime.now(UTC),
        help="End of the window, ISO-8601, exclusive (default: now).",
    )
    parser.add_argument(
        "--since",
        type=datetime.fromisoformat,
        help="Start of the window, ISO-8601 (default: 24 hours before --until).",
    )


def window(args: argparse.Namespace) -> tuple[datetime, datetime]:
    until: datetime = args.until
    return args.since or until - DEFAULT_WINDOW, until
