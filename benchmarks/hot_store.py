"""A skewed world for the benchmarks: one store with a given share of all transactions.

The store step keys by store, the grouped path groups by store: a store that takes a fifth of
the traffic is the hot key both must carry without losing more than a fifth of their rate
(issue 21). The generated stream is rewritten, not regenerated, so the skewed run sees the
same customers, amounts and times as the even one.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

PER_MILLE = 1000


def _transaction(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    usable = isinstance(event, dict) and isinstance(event.get("store_id"), str)
    return event if usable and "transaction_id" in event else None


def _picked(event: dict[str, Any], share: float) -> bool:
    # By id, so every run moves the same transactions.
    return zlib.crc32(str(event["transaction_id"]).encode()) % PER_MILLE < share * PER_MILLE


def concentrate_on_one_store(lines: list[bytes], share: float) -> list[bytes]:
    """The stream with ``share`` of its transactions moved to its busiest store (which then
    holds about ``share`` plus its own part), written compactly as the generator writes. A
    moved transaction keeps its own coordinates, which the travel rule reads as they are. Lines
    that are not transactions with a store (malformed lines, feedback) stay as they are."""
    if share <= 0:
        return lines
    events = [_transaction(line) for line in lines]
    stores = Counter(event["store_id"] for event in events if event is not None)
    if not stores:
        return lines
    hot = stores.most_common(1)[0][0]
    return [
        json.dumps({**event, "store_id": hot}, separators=(",", ":")).encode()
        if event is not None and _picked(event, share)
        else line
        for line, event in zip(lines, events, strict=True)
    ]


def concentrate_file(path: str, share: float) -> list[bytes]:
    """Rewrite a JSONL events file in place with :func:`concentrate_on_one_store`; returns
    its lines as they now are."""
    file = Path(path)
    lines = file.read_bytes().splitlines()
    moved = concentrate_on_one_store(lines, share)
    if moved is not lines:
        file.write_bytes(b"".join(line + b"\n" for line in moved))
    return moved


def hot_share(lines: list[bytes]) -> float:
    """The busiest store's share of the transactions."""
    stores = Counter(event["store_id"] for event in map(_transaction, lines) if event is not None)
    return max(stores.values()) / sum(stores.values()) if stores else 0.0
