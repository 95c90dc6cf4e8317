"""The ``--dsn`` option every warehouse command shares: the flag, else ``STREAMFLOW_PG_DSN``."""

from __future__ import annotations

import argparse
import os

DSN_VARIABLE = "STREAMFLOW_PG_DSN"


def add_dsn_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dsn", default=os.environ.get(DSN_VARIABLE))


def required_dsn(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    if not args.dsn:
        parser.error(f"give --dsn or set {DSN_VARIABLE}")
    return str(args.dsn)
