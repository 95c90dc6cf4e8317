"""The steps of ``benchmarks/live_ceiling.py``'s job that run on the workers, in a module of
their own: run as ``python -m``, the job's module is ``__main__``, whose functions Beam pickles
by value without the names they use, and a live job's worker processes (other processes than
the launcher) would then lack them."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.coders import (
    DetectorCell,
    DetectorCellCoder,
    buffered_customer_id,
    decode_buffered,
    encode_buffered,
)
from transforms.counters import NAMESPACE
from transforms.domain.blacklist import BlacklistHit
from transforms.domain.events import Transaction
from transforms.ordered_step import ordered_step

STEPS = {
    "none": (),
    "customer": ("customer",),
    "store,customer": ("store", "customer"),
    "customer,customer": ("customer", "customer"),
    "shard": ("shard",),
    "store,shard": ("store", "shard"),
    "shard,shard": ("shard", "shard"),
}
SHARDS = 16


def _customer_key(customer_id: str, by_shard: bool) -> str:
    """A customer's own key, or its shard's (one of :data:`SHARDS`)."""
    return str(zlib.crc32(customer_id.encode()) % SHARDS) if by_shard else customer_id


class PassOn:
    """A :class:`~transforms.ordered_step.KeyHandler` that orders and does nothing else:
    each record leaves keyed by its customer."""

    def __init__(self, by_shard: bool) -> None:
        self._by_shard = by_shard

    def setup(self) -> None:
        pass

    def new_cell(self) -> DetectorCell:
        return DetectorCell()

    def handle(self, key: str, cell: DetectorCell, records: list[bytes]) -> Iterator[Any]:
        for encoded in records:
            yield _customer_key(buffered_customer_id(encoded), self._by_shard), encoded

    def expires_at(self, cell: DetectorCell) -> int | None:
        return None

    def expire(self, cell: DetectorCell) -> bool:
        return False


OrderOnlyFn = ordered_step(
    __name__, "OrderOnlyFn", "cell", DetectorCellCoder(), "late_ceiling", "expired_ceiling"
)


def key_for(event: Transaction, step: str) -> tuple[str, bytes]:
    encoded = encode_buffered(event, BlacklistHit(False, False))
    if step == "store":
        return event.store_id, encoded
    return _customer_key(event.customer_id, step == "shard"), encoded


class CountFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self) -> None:
        self._scored = Metrics.counter(NAMESPACE, "scored")

    def process(self, element: tuple[str, bytes]) -> Iterator[dict[str, Any]]:
        self._scored.inc()
        buffered = decode_buffered(element[1])
        assert isinstance(buffered, tuple)  # only events go through this job's steps
        event = buffered[0]
        if zlib.crc32(event.transaction_id.encode()) % 100 == 0:
            yield {"transaction_id": event.transaction_id, "customer_id": event.customer_id}
