"""What the tests of the registry commands (pipelines.rules, pipelines.models) share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def soon(seconds: float) -> str:
    """An ``--effective_from`` that many seconds from now."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()
