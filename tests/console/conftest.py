"""A migrated warehouse per module, the console's own role on it, users, and the app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import make_conninfo

from console.settings import Settings
from console.users import add_user, new_token
from console.web import create_app
from pipelines.warehouse.scratch import scratch_database
from tests.kafka.conftest import bootstrap_servers, topics  # noqa: F401  (the relay's broker)

PASSWORD = "correct horse battery staple"
TOPIC = "fraud.feedback.test"


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def warehouse_dsn(server_dsn: str) -> Iterator[str]:
    """A migrated warehouse of this module's own (the migration owner's DSN)."""
    with scratch_database(server_dsn) as dsn:
        yield dsn


@pytest.fixture(scope="module")
def console_dsn(warehouse_dsn: str) -> str:
    """The same database as the console's own role (the migration creates it)."""
    return make_conninfo(warehouse_dsn, user="streamflow_console")


@pytest.fixture(scope="module")
def accounts(console_dsn: str) -> dict[str, Account]:
    made = {}
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        for name, role in (
            ("vera", "viewer"),
            ("ana", "analyst"),
            ("bruno", "analyst"),
            ("sofia", "supervisor"),
        ):
            add_user(connection, name, role, PASSWORD)
            made[name] = Account(name, role, new_token(connection, name))
    return made


@pytest.fixture(scope="module")
def client(console_dsn: str, accounts: dict[str, Account]) -> Iterator[TestClient]:
    app = create_app(Settings(dsn=console_dsn, feedback_topic=TOPIC))
    with TestClient(app) as test_client:
        yield test_client
