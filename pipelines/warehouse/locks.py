"""Session-level advisory locks that serialise the warehouse's commands.

Taken on an autocommit connection before any transaction starts, so that whoever waited for the
lock then sees everything the holder committed. The keys are project constants: one per job
that must not run twice at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MIGRATION_LOCK = 7_246_817_001
REFRESH_LOCK = 7_246_817_002
# The console relay: one replica publishes the outbox, in order; the others stand by.
CONSOLE_RELAY_LOCK = 7_246_817_003


@contextmanager
def advisory_lock(connection: Any, key: int) -> Iterator[None]:
    connection.execute("SELECT pg_advisory_lock(%s)", (key,))
    try:
        yield
    finally:
        connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
