"""Event-time order per customer, with the customers of a shard under one key.

:mod:`transforms.ordered_step` keys by customer: each event costs its key a state write, a
flush timer set and fired and a bag cleared, every one a round trip between the Python worker
and the runner, and those round trips, not detection, bounded the live job (docs/benchmarks.md,
issue 21). This step does the same ordering for a shard of customers under one key (the
customer's CRC-32 modulo ``--customer_shards``): a bundle touches a shard once for all its
customers, and one timer round releases all that is due in it.

What stays as it was, per customer: records are handed to the step's
:class:`~transforms.ordered_step.KeyHandler` in the order of
:func:`transforms.coders.buffered_order`, with the customer's own cell; a record is late
when its customer's history has moved past it (``evaluated_through_ms`` of the customer: the
time of its last record handled in order), and is then handled at once, alone, and counted;
a customer expires when the handler says and none of its records waits. A record behind the
shard's time but ahead of its customer's is not late: it waits for the next round like any
other.

Shared records: a record the handler says is for every member (``shared_time_ms`` gives its
effective time; a rules change, :mod:`transforms.detect`) is not buffered: the shard keeps it at
once (in memory and in a bag of its own) and gives the list to the handler's ``share`` before
any member's records are handled. Its effect depends on the records' own times, so it only has
to arrive before the watermark passes its effective time; one that arrives after the shard was
released past that time is counted as late (its members' records in between were handled
without it).

Where things live: the records waiting for the watermark in a bag and, sorted, in memory
(:class:`~transforms.event_time_buffer.Waiting`, shared with the ordered step); the customers'
cells in memory and in an append-only log (:mod:`transforms.shard_state`); the shard's own
small cell holds both in memory and is written only when it is new, rebuilt, or has doubled
since the state cache weighed it. A rebuild reads both bags: a waiting record whose customer has
moved past it was released already.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import apache_beam as beam
from apache_beam import coders
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)

from transforms.coders import buffered_order
from transforms.counters import NAMESPACE
from transforms.event_time_buffer import Waiting, to_millis, to_timestamp
from transforms.ordered_step import KeyHandler, OrderingFn
from transforms.shard_state import Members, ShardCell, ShardCellCoder


class ShardHandler(KeyHandler[Any], Protocol):
    """A :class:`KeyHandler` that may be told records for every member of a shard."""

    def shared_time_ms(self, encoded: bytes) -> int | None:
        """The effective time of a record for every member; None for a member's own."""

    def share(self, shared: list[bytes]) -> None:
        """The shard's shared records, before its members' records are handled."""


def shard_of(member: str, shards: int) -> str:
    """The key of ``member``'s shard: stable across processes and releases (CRC-32)."""
    return str(zlib.crc32(member.encode("utf-8", "surrogatepass")) % shards)


def sharded_step(
    module: str,
    name: str,
    state_id: str,
    member_coder: coders.Coder,
    late_counter: str,
    expired_counter: str,
    shared_learned_counter: str = "shared_records_learned",
    shared_late_counter: str = "shared_records_late",
) -> type[beam.DoFn]:
    """A DoFn class that hands a :class:`KeyHandler` each member's records in event-time
    order, with the members of a shard under one key.

    Assign it at module level in ``module`` under ``name`` (it pickles by reference). Its
    constructor takes ``(handler, member_of, shards, streaming, arrival_lag_ms=0,
    cheap_state_cache_sizing=True)``: ``member_of`` gives an encoded record's member (its
    customer), ``shards`` how many shards the input is keyed by. Input ``(shard, encoded
    record)`` (:func:`shard_of`); output what the handler yields.
    """
    shard_spec = ReadModifyWriteStateSpec(f"{state_id}_shard", ShardCellCoder())
    waiting_spec = BagStateSpec(f"{state_id}_waiting", coders.BytesCoder())
    members_spec = BagStateSpec(f"{state_id}_members", coders.BytesCoder())
    shared_spec = BagStateSpec(f"{state_id}_shared", coders.BytesCoder())
    # Named apart from the ordered step's timers: Python's FnApiRunner keeps the timers a stage
    # writes by family name, and mixes up those of two fused steps that share one.
    flush_spec = TimerSpec("shard_flush", TimeDomain.WATERMARK)
    sweep_spec = TimerSpec("shard_sweep", TimeDomain.WATERMARK)
    expiry_spec = TimerSpec("shard_expiry", TimeDomain.WATERMARK)

    class ShardedStepFn(OrderingFn):
        def __init__(
            self,
            handler: ShardHandler,
            member_of: Callable[[bytes], str],
            shards: int,
            streaming: bool,
            arrival_lag_ms: int = 0,
            cheap_state_cache_sizing: bool = True,
        ) -> None:
            super().__init__(
                handler,
                streaming,
                arrival_lag_ms,
                cheap_state_cache_sizing,
                late_counter,
                expired_counter,
            )
            self._member_of = member_of
            self._shards = shards
            self._shard_handler = handler
            self._shared_learned = Metrics.counter(NAMESPACE, shared_learned_counter)
            self._shared_late = Metrics.counter(NAMESPACE, shared_late_counter)

        def process(
            self,
            element: tuple[str, bytes],
            shard_state: Any = beam.DoFn.StateParam(shard_spec),
            waiting_bag: Any = beam.DoFn.StateParam(waiting_spec),
            members_bag: Any = beam.DoFn.StateParam(members_spec),
            shared_bag: Any = beam.DoFn.StateParam(shared_spec),
            flush: Any = beam.DoFn.TimerParam(flush_spec),
            sweep: Any = beam.DoFn.TimerParam(sweep_spec),
            expiry: Any = beam.DoFn.TimerParam(expiry_spec),
        ) -> Iterator[Any]:
            encoded = element[1]
            shard, members, waiting, rebuilt = self._load(
                shard_state, waiting_bag, members_bag, shared_bag, expiry
            )
            shared_at = self._shard_handler.shared_time_ms(encoded)
            if shared_at is not None:
                self._keep_shared(shard, shared_bag, encoded, shared_at)
            else:
                yield from self._hold_or_handle_late(
                    shard, members, waiting, encoded, waiting_bag, members_bag, flush, sweep, expiry
                )
            if rebuilt or shard.outgrew_its_weight():
                self._write(shard_state, shard)

        def _keep_shared(
            self, shard: ShardCell, shared_bag: Any, encoded: bytes, effective_ms: int
        ) -> None:
            assert shard.shared is not None
            if encoded in shard.shared:  # told again (a re-read of its topic)
                return
            shard.shared.append(encoded)
            shard.shared_bytes += len(encoded)
            shared_bag.add(encoded)
            self._shared_learned.inc()
            released = shard.evaluated_through_ms
            if released is not None and effective_ms <= released:
                self._shared_late.inc()

        def _hold_or_handle_late(
            self,
            shard: ShardCell,
            members: Members,
            waiting: Waiting,
            encoded: bytes,
            waiting_bag: Any,
            members_bag: Any,
            flush: Any,
            sweep: Any,
            expiry: Any,
        ) -> Iterator[Any]:
            member = self._member_of(encoded)
            cell = members.cells.get(member)
            if cell is not None and self._buffer.is_late(cell, buffered_order(encoded)[0]):
                self._late.inc()
                assert shard.shared is not None
                self._shard_handler.share(shard.shared)
                yield from self._handler.handle(member, cell, [encoded])
                members.changed(member)
                self._arm_expiry(shard, member, cell, expiry)
                members.write_changes(members_bag, member_coder.encode)
            else:
                wake_at = self._buffer.hold(waiting, waiting_bag, encoded)
                if wake_at is not None:
                    flush.set(to_timestamp(wake_at))
                self._arm_sweep(waiting, sweep)

        @on_timer(flush_spec)  # type: ignore[untyped-decorator]
        def release_in_order(
            self,
            fired_at: Any = beam.DoFn.TimestampParam,
            shard_state: Any = beam.DoFn.StateParam(shard_spec),
            waiting_bag: Any = beam.DoFn.StateParam(waiting_spec),
            members_bag: Any = beam.DoFn.StateParam(members_spec),
            shared_bag: Any = beam.DoFn.StateParam(shared_spec),
            flush: Any = beam.DoFn.TimerParam(flush_spec),
            sweep: Any = beam.DoFn.TimerParam(sweep_spec),
            expiry: Any = beam.DoFn.TimerParam(expiry_spec),
        ) -> Iterator[Any]:
            bags = (waiting_bag, members_bag, shared_bag)
            yield from self._release(fired_at, shard_state, bags, flush, sweep, expiry, False)

        @on_timer(sweep_spec)  # type: ignore[untyped-decorator]
        def release_swept(
            self,
            fired_at: Any = beam.DoFn.TimestampParam,
            shard_state: Any = beam.DoFn.StateParam(shard_spec),
            waiting_bag: Any = beam.DoFn.StateParam(waiting_spec),
            members_bag: Any = beam.DoFn.StateParam(members_spec),
            shared_bag: Any = beam.DoFn.StateParam(shared_spec),
            flush: Any = beam.DoFn.TimerParam(flush_spec),
            sweep: Any = beam.DoFn.TimerParam(sweep_spec),
            expiry: Any = beam.DoFn.TimerParam(expiry_spec),
        ) -> Iterator[Any]:
            bags = (waiting_bag, members_bag, shared_bag)
            yield from self._release(fired_at, shard_state, bags, flush, sweep, expiry, True)

        def _release(
            self,
            fired_at: Any,
            shard_state: Any,
            bags: tuple[Any, Any, Any],
            flush: Any,
            sweep: Any,
            expiry: Any,
            swept: bool,
        ) -> Iterator[Any]:
            """Either timer: release what waits through its time, each member's records in
            order with its cell, and re-arm."""
            waiting_bag, members_bag, shared_bag = bags
            shard, members, waiting, rebuilt = self._load(
                shard_state, waiting_bag, members_bag, shared_bag, expiry
            )
            due = self._buffer.take_due(shard, waiting, to_millis(fired_at), swept=swept)
            by_member: dict[str, list[bytes]] = {}
            for encoded in due:
                by_member.setdefault(self._member_of(encoded), []).append(encoded)
            if by_member:
                assert shard.shared is not None
                self._shard_handler.share(shard.shared)
            for member, records in by_member.items():
                cell = members.cells.get(member)
                if cell is None:
                    cell = members.cells[member] = self._handler.new_cell()
                yield from self._handler.handle(member, cell, records)
                # The customer's own time: a later record of it at or before this is late.
                cell.evaluated_through_ms = buffered_order(records[-1])[0]
                members.changed(member)
                self._arm_expiry(shard, member, cell, expiry)
            members.write_changes(members_bag, member_coder.encode)
            self._buffer.compact(waiting, waiting_bag)
            wake_at = self._buffer.rearm(waiting)
            if wake_at is not None:
                flush.set(to_timestamp(wake_at))
            self._arm_sweep(waiting, sweep)
            if rebuilt or shard.outgrew_its_weight():
                self._write(shard_state, shard)

        @on_timer(expiry_spec)  # type: ignore[untyped-decorator]
        def expire_idle_members(
            self,
            fired_at: Any = beam.DoFn.TimestampParam,
            shard_state: Any = beam.DoFn.StateParam(shard_spec),
            waiting_bag: Any = beam.DoFn.StateParam(waiting_spec),
            members_bag: Any = beam.DoFn.StateParam(members_spec),
            shared_bag: Any = beam.DoFn.StateParam(shared_spec),
            expiry: Any = beam.DoFn.TimerParam(expiry_spec),
        ) -> None:
            shard, members, waiting, rebuilt = self._load(
                shard_state, waiting_bag, members_bag, shared_bag, expiry
            )
            shard.expiry_at_ms = None
            # The watermark has passed this timer and every release's time: one firing expires
            # all the members due by either (one member per timer round would fall behind).
            fired_ms = to_millis(fired_at)
            if shard.evaluated_through_ms is not None:
                fired_ms = max(fired_ms, shard.evaluated_through_ms + 1)
            expiring = members.take_expiring(fired_ms)
            waits = set()
            if expiring:
                waits = {self._member_of(encoded) for _, encoded in waiting.entries}
            forgot = False
            for member in expiring:
                cell = members.cells[member]
                expires_at = self._handler.expires_at(cell)
                if member in waits or (expires_at is not None and expires_at > fired_ms):
                    # Active since. With records waiting, their release re-arms expiry.
                    if member not in waits:
                        self._arm_expiry(shard, member, cell, expiry)
                    continue
                self._expired.inc()
                if not self._handler.expire(cell):
                    members.forget(member)
                    forgot = True
            members.write_changes(members_bag, member_coder.encode)
            if forgot and waiting.released_in_bag:
                # A forgotten member's released records must not come back as waiting when the
                # bag is next read (a rebuild tells them apart by their member's time).
                waiting.released_in_bag = len(waiting.entries)
                self._buffer.compact(waiting, waiting_bag)
            self._arm_shard_expiry(shard, members, expiry)
            if rebuilt or shard.outgrew_its_weight():
                self._write(shard_state, shard)

        def _load(
            self,
            shard_state: Any,
            waiting_bag: Any,
            members_bag: Any,
            shared_bag: Any,
            expiry: Any,
        ) -> tuple[ShardCell, Members, Waiting, bool]:
            """The shard's cell with its members and waiting records in memory; True when they
            were rebuilt from the bags (a new shard, a restore, a cache eviction)."""
            shard: ShardCell | None = shard_state.read()
            if shard is None:
                shard = ShardCell(shards=self._shards)
            elif shard.members is not None and shard.waiting is not None:
                return shard, shard.members, shard.waiting, False
            elif shard.shards != self._shards:
                # Its customers would be looked for under other keys: their histories lost.
                raise ValueError(
                    f"customer state written by a job with --customer_shards={shard.shards}, "
                    f"read by one with {self._shards}: restore it into a job with the same value"
                )
            members = Members.rebuild(members_bag.read(), member_coder.decode)

            def released(time_ms: int, encoded: bytes) -> bool:
                # Its customer has been handled past it. (Forgetting a customer rewrote the
                # bag without its released records.)
                cell = members.cells.get(self._member_of(encoded))
                return cell is not None and self._buffer.is_late(cell, time_ms)

            waiting = self._buffer.rebuild(waiting_bag.read(), released)
            shard.members, shard.waiting = members, waiting
            shard.shared = list(shared_bag.read())
            shard.shared_bytes = sum(len(encoded) for encoded in shard.shared)
            # Where the shard was released through, near enough: the sweep's reach is measured
            # from it (unknown, the first sweep would wait for the farthest record).
            shard.evaluated_through_ms = max(
                (c.evaluated_through_ms for c in members.cells.values() if c.evaluated_through_ms),
                default=None,
            )
            # The pending expiry may be lost with the cache: set it again from the members.
            shard.expiry_at_ms = None
            self._arm_shard_expiry(shard, members, expiry)
            return shard, members, waiting, True

        def _arm_expiry(self, shard: ShardCell, member: str, cell: Any, expiry: Any) -> None:
            """Arm the member's expiry unless it is pending (when it fires it checks again)."""
            if cell.expiry_at_ms is not None:
                return
            expires_at = self._handler.expires_at(cell)
            if expires_at is None:
                return
            assert shard.members is not None
            shard.members.expire_at(member, cell, expires_at)
            self._arm_shard_expiry(shard, shard.members, expiry)

        @staticmethod
        def _arm_shard_expiry(shard: ShardCell, members: Members, expiry: Any) -> None:
            earliest = members.earliest_expiry_ms()
            if earliest is None:
                return
            if shard.expiry_at_ms is None or earliest < shard.expiry_at_ms:
                shard.expiry_at_ms = earliest
                expiry.set(to_timestamp(earliest))

        @staticmethod
        def _write(shard_state: Any, shard: ShardCell) -> None:
            shard.weighed_bytes = shard.estimated_bytes()
            shard_state.write(shard)

    # Pickled by reference as ``<module>.<name>``: the module that assigns it under that name.
    ShardedStepFn.__name__ = ShardedStepFn.__qualname__ = name
    ShardedStepFn.__module__ = module
    return ShardedStepFn
