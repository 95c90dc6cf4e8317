"""``python -m console users ...``: the first account, tokens alone on stdout, one-line
mistakes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from console.settings import DSN_VARIABLE
from tests.console.conftest import PASSWORD


def console(*argv: str, dsn: str | None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != DSN_VARIABLE}
    if dsn:
        environment[DSN_VARIABLE] = dsn
    return subprocess.run(
        [sys.executable, "-m", "console", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def test_users_are_made_from_the_command_line_and_their_token_works(
    console_dsn: str, client: TestClient
) -> None:
    added = console(
        "users", "add", "carla", "--role", "analyst", dsn=console_dsn, stdin=PASSWORD + "\n"
    )
    assert added.returncode == 0, added.stderr
    assert PASSWORD not in added.stdout + added.stderr
    token = console("users", "token", "carla", dsn=console_dsn)
    assert token.returncode == 0
    assert token.stdout.count("\n") == 1
    headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
    assert client.get("/api/alerts", headers=headers).status_code == 200
    listed = console("users", "list", dsn=console_dsn)
    assert "carla\tanalyst\n" in listed.stdout
    assert console("users", "revoke-tokens", "carla", dsn=console_dsn).returncode == 0
    assert client.get("/api/alerts", headers=headers).status_code == 401
    assert console("users", "disable", "carla", dsn=console_dsn).returncode == 0
    assert "carla\tanalyst\tdisabled" in console("users", "list", dsn=console_dsn).stdout
    refused = console("users", "token", "carla", dsn=console_dsn)
    assert refused.returncode == 2


@pytest.mark.parametrize(
    ("argv", "stdin", "says"),
    [
        (("users", "add", "dora", "--role", "boss"), PASSWORD, "invalid choice"),
        (("users", "add", "Dora!", "--role", "viewer"), PASSWORD, "not a user name"),
        (("users", "add", "dora", "--role", "viewer"), "short", "at least 12"),
        (("users", "token", "nobody"), "", "no enabled user"),
        (("users", "add", "ana2", "--role", "viewer", "--pasword", "x"), "", "unknown option"),
    ],
)
def test_a_mistake_is_one_line(
    console_dsn: str, argv: tuple[str, ...], stdin: str, says: str
) -> None:
    done = console(*argv, dsn=console_dsn, stdin=stdin + "\n")
    assert done.returncode == 2
    assert says in done.stderr
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_a_user_name_is_unique(console_dsn: str) -> None:
    first = console("users", "add", "eva", "--role", "viewer", dsn=console_dsn, stdin=PASSWORD)
    assert first.returncode == 0
    second = console("users", "add", "eva", "--role", "viewer", dsn=console_dsn, stdin=PASSWORD)
    assert (second.returncode, second.stderr.count("\n")) == (2, 1)
    assert "exists" in second.stderr


def test_without_a_database_the_console_says_which_variable(console_dsn: str) -> None:
    done = console("users", "list", dsn=None)
    assert (done.returncode, done.stderr.strip()) == (
        2,
        f"console: set {DSN_VARIABLE} to the console role's PostgreSQL DSN",
    )
    unreachable = console(
        "users",
        "list",
        dsn="postgresql://streamflow_console:s3cret@127.0.0.1:1/x?connect_timeout=2",
    )
    assert unreachable.returncode == 1
    assert "s3cret" not in unreachable.stderr
    assert unreachable.stderr.count("\n") == 1
