"""Request dependencies shared by the API and the pages: a database connection, the user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Request

from console.users import User, user_of_token


def connection(request: Request) -> Iterator[psycopg.Connection]:
    with request.app.state.pool.connection() as held:
        yield held


Connection = Annotated[psycopg.Connection, Depends(connection)]


def bearer_token(request: Request) -> str | None:
    """The token of the request's ``Authorization: Bearer`` header; None without one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def bearer_user(request: Request, held: Connection) -> User:
    """The user of the request's ``Authorization: Bearer`` token; 401 without a valid one."""
    token = bearer_token(request)
    user = user_of_token(held, token) if token is not None else None
    if user is None:
        raise HTTPException(
            401, "a valid API token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    return user


ApiUser = Annotated[User, Depends(bearer_user)]
