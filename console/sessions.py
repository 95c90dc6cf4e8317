"""Browser sessions, their CSRF tokens, and login throttling.

A session id is 256 random bits in an HttpOnly, SameSite=Strict cookie; the database keeps its
SHA-256, with the session's CSRF token, which every form carries back. Failed logins are
counted per name and client address over ``THROTTLE_WINDOW``, in the database, so every
replica of the console sees them.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import psycopg

from console.users import User, digest

COOKIE = "streamflow_session"
SESSION_LIFETIME = timedelta(hours=12)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_CLIENT = 20
MAX_FAILURES_FOR_A_NAME = 50


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf_token: str

    def csrf_matches(self, given: str | None) -> bool:
        # As bytes: compare_digest refuses a str that is not ASCII.
        return bool(given) and hmac.compare_digest(self.csrf_token.encode(), (given or "").encode())


def open_session(connection: psycopg.Connection, user: User) -> str:
    """A new session for ``user``; returns the cookie value."""
    session_id = secrets.token_urlsafe(32)
    connection.execute(
        "INSERT INTO console.sessions (session_sha256, user_id, csrf_token, expires_at) "
        "VALUES (%s, %s, %s, now() + %s)",
        (digest(session_id), user.user_id, secrets.token_urlsafe(32), SESSION_LIFETIME),
    )
    # Expired sessions of anyone go with each login: no separate sweeper needed.
    connection.execute("DELETE FROM console.sessions WHERE expires_at < now()")
    return session_id


def session_of(connection: psycopg.Connection, session_id: str | None) -> Session | None:
    if not session_id or len(session_id) > 100:
        return None
    row = connection.execute(
        "SELECT u.user_id, u.name, u.role, s.csrf_token FROM console.sessions s "
        "JOIN console.users u USING (user_id) "
        "WHERE s.session_sha256 = %s AND s.expires_at > now() AND NOT u.disabled",
        (digest(session_id),),
    ).fetchone()
    if row is None:
        return None
    return Session(User(int(row[0]), str(row[1]), row[2]), str(row[3]))


def close_session(connection: psycopg.Connection, session_id: str | None) -> None:
    if session_id:
        connection.execute(
            "DELETE FROM console.sessions WHERE session_sha256 = %s", (digest(session_id),)
        )


def throttled(connection: psycopg.Connection, name: str, client: str) -> bool:
    """Whether a login for ``name`` from ``client`` must wait: too many recent failures for
    that name from that client, from that client for any name, or for that name from
    everywhere (a guess spread over many addresses). The per-name bar is high: a low one
    would let anyone lock an analyst out by typing wrong passwords under their name."""
    row = connection.execute(
        "SELECT count(*) FILTER (WHERE name = %(name)s AND client = %(client)s), "
        "count(*) FILTER (WHERE client = %(client)s), count(*) FILTER (WHERE name = %(name)s) "
        "FROM console.login_failures WHERE failed_at > now() - %(window)s "
        "AND (name = %(name)s OR client = %(client)s)",
        {"name": name, "client": client, "window": THROTTLE_WINDOW},
    ).fetchone()
    assert row is not None
    pair, per_client, per_name = (int(n) for n in row)
    return (
        pair >= MAX_FAILURES_PER_NAME
        or per_client >= MAX_FAILURES_PER_CLIENT
        or per_name >= MAX_FAILURES_FOR_A_NAME
    )


def record_failure(connection: psycopg.Connection, name: str, client: str) -> None:
    connection.execute(
        "INSERT INTO console.login_failures (name, client) VALUES (%s, %s)", (name[:100], client)
    )
    connection.execute(
        "DELETE FROM console.login_failures WHERE failed_at < now() - %s", (THROTTLE_WINDOW,)
    )


def clear_failures(connection: psycopg.Connection, name: str) -> None:
    connection.execute("DELETE FROM console.login_failures WHERE name = %s", (name,))
