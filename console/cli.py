"""``python -m console COMMAND``: serve the console, run its relay, manage its users.

* ``serve [--host 127.0.0.1] [--port 58090]``: the web application.
* ``relay``: opens a case for every new alert and publishes verdicts to ``fraud.feedback``
  (``STREAMFLOW_KAFKA_BOOTSTRAP``).
* ``users add NAME --role viewer|analyst|supervisor``: the password from a prompt, or from
  stdin when it is not a terminal.
* ``users token NAME``: a new API token, alone on stdout; ``users revoke-tokens NAME``.
* ``users list``, ``users disable NAME``, ``users enable NAME``.

The database is ``STREAMFLOW_CONSOLE_PG_DSN`` (the console's own role), from the environment
only. A mistake ends the command with one line on stderr and a non-zero status.
"""

from __future__ import annotations

import getpass
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from console.passwords import password_problem
from console.settings import DEFAULT_HOST, DEFAULT_PORT, settings_from_environment
from console.users import ROLES, UserError, add_user, list_users, new_token, revoke_tokens
from console.users import set_disabled as set_user_disabled
from pipelines.cli import RUN_ERROR, CommandError, OneLineParser, Range, run_command
from pipelines.warehouse.options import redacted

TOOL = "console"


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m console", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve the console")
    serve.add_argument("--host", default=DEFAULT_HOST)
    serve.add_argument("--port", type=Range(int, low=1, high=65_535), default=DEFAULT_PORT)
    serve.add_argument(
        "--workers",
        type=Range(int, low=1, high=64),
        default=1,
        help="worker processes (each with its own pool of database connections)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="proxies trusted for X-Forwarded-For/-Proto (the client address that login "
        "throttling counts, and https for Secure cookies)",
    )
    relay_command = commands.add_parser("relay", help="open cases for new alerts, publish verdicts")
    relay_command.add_argument(
        "--heartbeat-file",
        type=Path,
        default=None,
        help="a file touched at every round, for a liveness probe",
    )
    users = commands.add_parser("users", help="manage users and API tokens")
    user_commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = user_commands.add_parser("add", help="add a user (password from a prompt or stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    for name, summary in (
        ("token", "print a new API token"),
        ("revoke-tokens", "revoke every API token of a user"),
        ("disable", "disable a user (ends their sessions)"),
        ("enable", "enable a disabled user"),
    ):
        user_commands.add_parser(name, help=summary).add_argument("name")
    user_commands.add_parser("list", help="list the users")
    return parser


def read_password(name: str) -> str:
    if sys.stdin.isatty():
        password = getpass.getpass(f"Password for {name}: ")
        if getpass.getpass("Again: ") != password:
            raise CommandError("the passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    problem = password_problem(password)
    if problem:
        raise CommandError(problem)
    return password


def users_command(dsn: str, args: Any) -> int:
    action = args.users_command
    password = read_password(args.name) if action == "add" else ""
    with psycopg.connect(dsn, autocommit=True) as connection:
        if action == "add":
            user = add_user(connection, args.name, args.role, password)
            print(f"added {user.name} ({user.role})", file=sys.stderr)
        elif action == "token":
            print(new_token(connection, args.name))
        elif action == "revoke-tokens":
            print(f"revoked {revoke_tokens(connection, args.name)} tokens", file=sys.stderr)
        elif action in ("disable", "enable"):
            set_user_disabled(connection, args.name, action == "disable")
        else:
            for name, role, disabled in list_users(connection):
                print("\t".join([name, role, *(["disabled"] if disabled else [])]))
    return 0


def serve(args: Any) -> int:
    import uvicorn

    settings_from_environment()  # a missing setting is one line here, not in every worker
    uvicorn.run(
        "console.web:app_from_environment",
        factory=True,
        workers=args.workers,
        host=args.host,
        port=args.port,
        log_level="info",
        access_log=True,
        proxy_headers=args.forwarded_allow_ips is not None,
        forwarded_allow_ips=args.forwarded_allow_ips,
        server_header=False,
    )
    return 0


def relay(args: Any) -> int:
    from confluent_kafka import Producer

    from console.relay import producer_config, run_relay

    settings = settings_from_environment(kafka=True)
    assert settings.kafka_bootstrap is not None
    stop = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop.set())
    config = producer_config(settings.kafka_bootstrap)
    run_relay(settings.dsn, lambda: Producer(config), stop, heartbeat=args.heartbeat_file)
    return 0


def run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.command == "serve":
        return serve(args)
    if args.command == "relay":
        return relay(args)
    dsn = settings_from_environment().dsn
    try:
        return users_command(dsn, args)
    except UserError as error:
        raise CommandError(str(error)) from None
    except psycopg.Error as error:
        raise CommandError(redacted(str(error), dsn) or type(error).__name__, RUN_ERROR) from None


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(TOOL, lambda: run(argv))
