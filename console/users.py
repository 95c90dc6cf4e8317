"""Users, roles and API tokens.

Roles are ordered: a viewer reads; an analyst also takes alerts, comments and gives verdicts;
a supervisor also changes decided alerts and acts on many alerts at once. There is no default
account: ``python -m console users add`` makes the first one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Literal

import psycopg

from console.passwords import hash_password, needs_rehash, verify_password

Role = Literal["viewer", "analyst", "supervisor"]
ROLES: tuple[Role, ...] = ("viewer", "analyst", "supervisor")
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
TOKEN_PREFIX = "sft_"


class UserError(ValueError):
    """A name, role or password the console does not accept; the message says which."""


@dataclass(frozen=True, slots=True)
class User:
    user_id: int
    name: str
    role: Role

    def may(self, role: Role) -> bool:
        """Whether this user holds ``role`` or a higher one."""
        return ROLES.index(self.role) >= ROLES.index(role)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise UserError(
            f"{name!r} is not a user name: 1-63 of a-z, 0-9, '.', '_', '-', starting with a "
            "letter or digit"
        )
    return name


def add_user(connection: psycopg.Connection, name: str, role: str, password: str) -> User:
    check_name(name)
    if role not in ROLES:
        raise UserError(f"{role!r} is not a role: one of {', '.join(ROLES)}")
    try:
        row = connection.execute(
            "INSERT INTO console.users (name, role, password_hash) VALUES (%s, %s, %s) "
            "RETURNING user_id",
            (name, role, hash_password(password)),
        ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise UserError(f"a user named {name!r} exists") from None
    assert row is not None
    return User(int(row[0]), name, role)


def set_disabled(connection: psycopg.Connection, name: str, disabled: bool) -> None:
    updated = connection.execute(
        "UPDATE console.users SET disabled = %s WHERE name = %s", (disabled, name)
    )
    if updated.rowcount == 0:
        raise UserError(f"no user named {name!r}")
    if disabled:
        connection.execute(
            "DELETE FROM console.sessions WHERE user_id = "
            "(SELECT user_id FROM console.users WHERE name = %s)",
            (name,),
        )


def list_users(connection: psycopg.Connection) -> list[tuple[str, str, bool]]:
    rows = connection.execute(
        "SELECT name, role, disabled FROM console.users ORDER BY name"
    ).fetchall()
    return [(str(name), str(role), bool(disabled)) for name, role, disabled in rows]


def authenticate(connection: psycopg.Connection, name: str, password: str) -> User | None:
    """The user if the name and password match an enabled account; the hash is upgraded when
    the hasher's parameters have grown since it was made."""
    row = connection.execute(
        "SELECT user_id, role, password_hash, disabled FROM console.users WHERE name = %s",
        (name,),
    ).fetchone()
    stored = str(row[2]) if row else None
    if not verify_password(stored, password) or row is None or row[3]:
        return None
    if stored and needs_rehash(stored):
        connection.execute(
            "UPDATE console.users SET password_hash = %s WHERE user_id = %s",
            (hash_password(password), row[0]),
        )
    return User(int(row[0]), name, row[1])


def new_token(connection: psycopg.Connection, name: str) -> str:
    """A new API token for ``name``; only its SHA-256 is kept."""
    row = connection.execute(
        "SELECT user_id FROM console.users WHERE name = %s AND NOT disabled", (name,)
    ).fetchone()
    if row is None:
        raise UserError(f"no enabled user named {name!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    connection.execute(
        "INSERT INTO console.api_tokens (token_sha256, user_id) VALUES (%s, %s)",
        (digest(token), row[0]),
    )
    return token


def revoke_tokens(connection: psycopg.Connection, name: str) -> int:
    revoked = connection.execute(
        "UPDATE console.api_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND "
        "user_id = (SELECT user_id FROM console.users WHERE name = %s)",
        (name,),
    )
    return revoked.rowcount


def user_of_token(connection: psycopg.Connection, token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = connection.execute(
        "SELECT u.user_id, u.name, u.role FROM console.api_tokens t "
        "JOIN console.users u USING (user_id) "
        "WHERE t.token_sha256 = %s AND t.revoked_at IS NULL AND NOT u.disabled",
        (digest(token),),
    ).fetchone()
    return User(int(row[0]), str(row[1]), row[2]) if row else None
