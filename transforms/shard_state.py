"""The state of one shard of customers: their cells in memory, persisted as an append-only log.

A keyed step pays the runner per key it touches in a bundle: a state read and write, a timer
set and fired, each a round trip between the Python worker and the JVM. With one key per
customer that is a few round trips per event (measured: the ordering alone capped the live job
at ~1,100 events/s). :mod:`transforms.sharded_step` keys by shard instead, so a bundle touches
a shard once for all of its customers; this module keeps what the shard knows.

Beam Python's state API has no map state, and one cell holding a shard's customers would be
re-encoded whole at every release. So the customers' cells live **in memory** (``Members``,
held by the shard's cell as the SDK's state cache keeps it between bundles) and are
**persisted** as a bag that is only appended to: each release appends the new encoding of the
customers it touched, one request per shard per bundle. The bag is rewritten with one entry per
customer once it holds twice as many entries as there are customers, so each change is written
a bounded number of times. After a restore or a cache eviction the cells are rebuilt from the
bag (the last entry of a customer wins; a forgotten customer's entry is a tombstone).

Memory: a shard keeps all of its customers' cells in the worker's state cache, and the cache
also holds the log it read or appended (up to two entries per customer), so a worker needs its
shards' customers to fit in ``--max_cache_memory_usage_mb`` at about 1 KB each; more shards
make each one smaller (docs/architecture.md, "Customer shards").
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from apache_beam import coders

from transforms.event_time_buffer import Waiting

_ID_LENGTH = struct.Struct("<H")
_CELL, _FORGOTTEN = 1, 0


class MemberCell(Protocol):
    evaluated_through_ms: int | None
    expiry_at_ms: int | None


class Log(Protocol):
    def read(self) -> Iterable[bytes]: ...

    def add(self, value: bytes) -> None: ...

    def clear(self) -> None: ...


def encode_entry(member: str, cell: bytes | None) -> bytes:
    """One entry of the log: a customer's cell, or that it was forgotten (``None``)."""
    identifier = member.encode("utf-8", "surrogatepass")
    kind = bytes((_FORGOTTEN if cell is None else _CELL,))
    return _ID_LENGTH.pack(len(identifier)) + identifier + kind + (cell or b"")


def decode_entry(entry: bytes) -> tuple[str, bytes | None]:
    (length,) = _ID_LENGTH.unpack_from(entry)
    start = _ID_LENGTH.size
    member = entry[start : start + length].decode("utf-8", "surrogatepass")
    kind = entry[start + length]
    return member, (entry[start + length + 1 :] if kind == _CELL else None)


class Members:
    """A shard's customers: ``cells`` by customer, which of them changed since the log was last
    written, and when each expires (a heap of ``(expiry, customer)``; an entry whose customer's
    ``expiry_at_ms`` moved since is stale and skipped)."""

    def __init__(self, cells: dict[str, Any], log_entries: int) -> None:
        self.cells = cells
        self.log_entries = log_entries
        self._changed: dict[str, None] = {}
        self._expiries: list[tuple[int, str]] = [
            (cell.expiry_at_ms, member)
            for member, cell in cells.items()
            if cell.expiry_at_ms is not None
        ]
        heapq.heapify(self._expiries)

    @classmethod
    def rebuild(cls, log: Iterable[bytes], decode: Callable[[bytes], Any]) -> Members:
        latest: dict[str, bytes | None] = {}
        entries = 0
        for entry in log:
            member, cell = decode_entry(entry)
            latest[member] = cell
            entries += 1
        cells = {member: decode(cell) for member, cell in latest.items() if cell is not None}
        return cls(cells, entries)

    def __len__(self) -> int:
        return len(self.cells)

    def changed(self, member: str) -> None:
        self._changed[member] = None

    def forget(self, member: str) -> None:
        del self.cells[member]
        self._changed[member] = None

    def expire_at(self, member: str, cell: MemberCell, at_ms: int) -> None:
        """Record that ``member``'s expiry is pending at ``at_ms``."""
        cell.expiry_at_ms = at_ms
        heapq.heappush(self._expiries, (at_ms, member))
        self._changed[member] = None

    def earliest_expiry_ms(self) -> int | None:
        """When the next customer expires (stale entries dropped on the way)."""
        expiries = self._expiries
        while expiries:
            at_ms, member = expiries[0]
            cell: MemberCell | None = self.cells.get(member)
            if cell is not None and cell.expiry_at_ms == at_ms:
                return at_ms
            heapq.heappop(expiries)
        return None

    def take_expiring(self, through_ms: int) -> list[str]:
        """The customers whose pending expiry is at or before ``through_ms``; it is no longer
        pending (the caller re-arms it or expires the customer)."""
        taken = []
        while (at_ms := self.earliest_expiry_ms()) is not None and at_ms <= through_ms:
            _, member = heapq.heappop(self._expiries)
            self.cells[member].expiry_at_ms = None
            self._changed[member] = None
            taken.append(member)
        return taken

    def write_changes(self, log: Log, encode: Callable[[Any], bytes]) -> None:
        """Append what changed to the log, or rewrite it once that would double it."""
        if not self._changed:
            return
        if self.log_entries + len(self._changed) > 2 * len(self.cells) + 16:
            log.clear()
            for member, cell in self.cells.items():
                log.add(encode_entry(member, encode(cell)))
            self.log_entries = len(self.cells)
        else:
            for member in self._changed:
                cell = self.cells.get(member)
                log.add(encode_entry(member, None if cell is None else encode(cell)))
            self.log_entries += len(self._changed)
        self._changed.clear()


# What one customer costs in memory, for the state cache's weight between two weighings: its
# cell (a profile with a full velocity window) and its entry in the cached log.
MEMBER_BYTES = 1024


@dataclass(slots=True)
class ShardCell:
    """A shard's own cell. Persisted: how many shards its job has (a job with another count
    would find its customers under other keys). In memory only: what waits, the customers
    (``Members``), and the bookkeeping :class:`~transforms.event_time_buffer.EventTimeBuffer`
    keeps on a cell (the time the shard has been released through, the pending expiry), which
    a rebuild starts afresh."""

    shards: int = 0
    evaluated_through_ms: int | None = field(default=None, compare=False)
    expiry_at_ms: int | None = field(default=None, compare=False)
    # Only so that a shard is an ``OrderedCell`` for ``EventTimeBuffer.take_due``: its records
    # wait in the bag, never in the cell.
    buffer: list[bytes] = field(default_factory=list, compare=False)
    waiting: Waiting | None = field(default=None, compare=False, repr=False)
    members: Members | None = field(default=None, compare=False, repr=False)
    # Records for every member (transforms.sharded_step), as told; persisted in a bag of their own.
    shared: list[bytes] | None = field(default=None, compare=False, repr=False)
    shared_bytes: int = field(default=0, compare=False, repr=False)
    # The estimate when the cell was last written, which is when the state cache weighs it.
    weighed_bytes: int = field(default=0, compare=False, repr=False)

    def estimated_bytes(self) -> int:
        """What the cache holds for the shard, estimated in O(1): records waiting (and their
        copy in the cached bag), customers at ``MEMBER_BYTES``."""
        waiting = 2 * self.waiting.size_bytes() if self.waiting is not None else 0
        members = MEMBER_BYTES * len(self.members) if self.members is not None else 0
        return 128 + waiting + members + self.shared_bytes

    def outgrew_its_weight(self) -> bool:
        return self.estimated_bytes() >= 2 * max(self.weighed_bytes, 64 * 1024)

    def __sizeof__(self) -> int:
        return self.estimated_bytes()


_SHARD_HEADER = struct.Struct("<B I")
_SHARD_CODEC_VERSION = 1


class ShardCellCoder(coders.Coder):  # type: ignore[misc]
    def encode(self, value: ShardCell) -> bytes:
        return _SHARD_HEADER.pack(_SHARD_CODEC_VERSION, value.shards)

    def decode(self, encoded: bytes) -> ShardCell:
        version, shards = _SHARD_HEADER.unpack_from(encoded)
        if version != _SHARD_CODEC_VERSION:
            raise ValueError(f"unknown shard state encoding version {version}")
        return ShardCell(shards=shards)

    def is_deterministic(self) -> bool:
        return True
