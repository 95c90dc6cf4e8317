"""The customer step keyed by shard (transforms.sharded_step, transforms.shard_state).

Its behaviour on Beam's runners is tested with the per-customer step's tests
(tests/transforms/test_detect.py and test_detector_paths.py run both keyings; the Flink
parity and live tests run the product's default). Here: the member log, and one shard driven
as a streaming runner drives it, with the state cache evicted at any moment (a restore reads
the same bags), which Beam's in-process runners never do.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from apache_beam.utils.timestamp import Timestamp

from transforms.coders import (
    DetectorCell,
    DetectorCellCoder,
    buffered_customer_key,
    decode_buffered,
    encode_blacklist_change,
    encode_buffered,
    encode_feedback,
)
from transforms.domain.blacklist import NO_HIT
from transforms.domain.blacklist_changes import BlacklistChange
from transforms.domain.events import Transaction
from transforms.domain.feedback import Feedback
from transforms.event_time_buffer import to_millis
from transforms.shard_state import Members, ShardCellCoder, decode_entry, encode_entry
from transforms.sharded_step import shard_of, sharded_step

CODER = DetectorCellCoder()
IDLE_MS = 5_000  # how long a member of the test handler outlives its last record


def _event(name: str, customer: str, time_ms: int) -> bytes:
    transaction = Transaction(
        transaction_id=name,
        customer_id=customer,
        store_id="S1",
        amount=Decimal("10"),
        currency="BRL",
        event_time_ms=time_ms,
    )
    return encode_buffered(transaction, NO_HIT)


def test_each_record_goes_to_its_customer() -> None:
    assert buffered_customer_key(_event("t", "C7", 5)) == "C7"
    assert buffered_customer_key(encode_feedback(Feedback("t", "C8", "S1", "fraud", 5))) == "C8"
    change = BlacklistChange("customer", "C9", True, 5)
    assert buffered_customer_key(encode_blacklist_change(change)) == "C9"


def test_shards_are_stable_and_spread() -> None:
    shards = {shard_of(f"C{n:05d}", 16) for n in range(1_000)}
    assert shards == {str(n) for n in range(16)}
    # Part of the state layout: a release that moved a customer to another shard would lose
    # its history on restore.
    assert (shard_of("C00001", 16), shard_of("C00002", 16), shard_of("C00001", 128)) == (
        "15",
        "5",
        "31",
    )


def test_the_log_keeps_the_last_word_on_each_member() -> None:
    kept, forgotten = DetectorCell(evaluated_through_ms=7), DetectorCell(evaluated_through_ms=3)
    log = [
        encode_entry("a", CODER.encode(DetectorCell(evaluated_through_ms=1))),
        encode_entry("b", CODER.encode(forgotten)),
        encode_entry("a", CODER.encode(kept)),
        encode_entry("b", None),
    ]
    assert decode_entry(log[-1]) == ("b", None)
    members = Members.rebuild(log, CODER.decode)
    assert members.cells == {"a": kept}
    assert members.log_entries == 4


class ListBag:
    def __init__(self) -> None:
        self.records: list[bytes] = []
        self.writes = 0

    def read(self) -> list[bytes]:
        return list(self.records)

    def add(self, value: bytes) -> None:
        self.records.append(value)
        self.writes += 1

    def clear(self) -> None:
        self.records = []


def test_the_log_is_rewritten_before_it_doubles() -> None:
    members, log = Members({}, 0), ListBag()
    for round_ in range(200):
        for name in ("a", "b", "c"):
            members.cells[name] = DetectorCell(evaluated_through_ms=round_)
            members.changed(name)
        members.write_changes(log, CODER.encode)
        assert len(log.records) <= 2 * 3 + 16 + 3
    # Appends, not a rewrite per change: each change written about twice at most.
    assert log.writes <= 2 * 600
    assert Members.rebuild(log.records, CODER.decode).cells == members.cells


def test_a_moved_expiry_leaves_a_stale_entry_that_is_skipped() -> None:
    members = Members({"a": DetectorCell(), "b": DetectorCell()}, 0)
    members.expire_at("a", members.cells["a"], 10)
    members.expire_at("b", members.cells["b"], 20)
    assert members.earliest_expiry_ms() == 10
    assert members.take_expiring(15) == ["a"]
    members.expire_at("a", members.cells["a"], 30)  # re-armed: active since
    members.forget("b")
    assert members.earliest_expiry_ms() == 30
    assert members.take_expiring(100) == ["a"]
    assert members.earliest_expiry_ms() is None


class Ordered:
    """A handler that records what it is handed: ``(member, transaction, time)`` per record,
    and forgets a member ``IDLE_MS`` after its last record."""

    def setup(self) -> None:
        pass

    def new_cell(self) -> DetectorCell:
        return DetectorCell()

    def handle(self, key: str, cell: DetectorCell, records: list[bytes]) -> Iterator[Any]:
        for encoded in records:
            record = decode_buffered(encoded)
            assert isinstance(record, tuple)
            event = record[0]
            yield key, event.transaction_id, event.event_time_ms

    def expires_at(self, cell: DetectorCell) -> int | None:
        through = cell.evaluated_through_ms
        return None if through is None else through + IDLE_MS

    def expire(self, cell: DetectorCell) -> bool:
        return False

    def shared_time_ms(self, encoded: bytes) -> int | None:
        return None  # shared records: tests/transforms/test_rules_versions.py

    def share(self, shared: list[bytes]) -> None:
        pass


ShardedTestFn = sharded_step(__name__, "ShardedTestFn", "test", CODER, "late_t", "expired_t")


class CachedCell:
    """A value state as the SDK's cache serves it: the same object until evicted, then the
    last written encoding read back."""

    def __init__(self) -> None:
        self.cached: Any = None
        self.persisted: bytes | None = None

    def read(self) -> Any:
        if self.cached is None and self.persisted is not None:
            self.cached = ShardCellCoder().decode(self.persisted)
        return self.cached

    def write(self, value: Any) -> None:
        self.cached = value
        self.persisted = ShardCellCoder().encode(value)

    def clear(self) -> None:
        self.cached = self.persisted = None


class Timer:
    def __init__(self, runner: ShardOnTheRunner, name: str) -> None:
        self._runner, self._name = runner, name

    def set(self, at: Timestamp) -> None:
        self._runner.timers[self._name] = to_millis(at)
        self._runner.set_in_round.add(self._name)

    def clear(self) -> None:
        self._runner.timers.pop(self._name, None)


class ShardOnTheRunner:
    """One shard's state and timers, driven as a streaming runner does (see
    test_event_time_buffer.OneKeyOnTheRunner): each round fires the due timers in time order."""

    def __init__(self) -> None:
        self.fn = ShardedTestFn(Ordered(), buffered_customer_key, 1, streaming=True)
        self.cell, self.waiting, self.log = CachedCell(), ListBag(), ListBag()
        self.shared = ListBag()
        self.timers: dict[str, int] = {}
        self.set_in_round: set[str] = set()
        self.handled: list[tuple[str, str, int]] = []
        self.late = 0

    def _state(self) -> dict[str, Any]:
        return {
            "shard_state": self.cell,
            "waiting_bag": self.waiting,
            "members_bag": self.log,
            "shared_bag": self.shared,
            "expiry": Timer(self, "expiry"),
        }

    def _timers(self) -> dict[str, Any]:
        return {"flush": Timer(self, "flush"), "sweep": Timer(self, "sweep")}

    def evict(self) -> None:
        self.cell.cached = None

    def arrive(self, record: bytes) -> None:
        before = len(self.handled)
        self.handled += self.fn.process(("0", record), **self._state(), **self._timers())
        self.late += len(self.handled) - before

    def round(self, watermark_ms: int) -> None:
        self.set_in_round.clear()
        due = sorted((at, name) for name, at in self.timers.items() if at <= watermark_ms)
        for at, name in due:
            if name not in self.set_in_round:
                del self.timers[name]
            fired_at = Timestamp(micros=at * 1000)
            if name == "expiry":
                self.fn.expire_idle_members(fired_at, **self._state())
            else:
                release = self.fn.release_swept if name == "sweep" else self.fn.release_in_order
                self.handled += release(fired_at, **self._state(), **self._timers())


def _drive(evict_every: int | None, seed: int, evict_every_rounds: int = 0) -> ShardOnTheRunner:
    """Six customers, records arriving out of order within each second of event time while
    the watermark trails by a second; some customers pause longer than ``IDLE_MS`` and are
    forgotten in between. The cache is evicted every ``evict_every`` arrivals, or every
    ``evict_every_rounds`` rounds (a rebuild forgets how far the sweep may reach, so evicting
    at every arrival keeps the shard behind until the end, forgetting no one before it)."""
    rng = random.Random(seed)
    runner = ShardOnTheRunner()
    runner.fn._handler.setup()
    # Z's records wait past the end: the waiting bag keeps released records (it is rewritten
    # only once they outnumber what waits) while E and F are forgotten.
    for n in range(300):
        runner.arrive(_event(f"Z-{n}", "Z", 100_000 + n))
    steps = 0
    for second in range(40):
        batch = []
        for customer in ("A", "B", "C", "D", "E", "F"):
            if customer in "EF" and 10 <= second < 25:
                continue  # idle: expires, then comes back with no history
            for n in range(rng.randint(0, 3)):
                time_ms = second * 1_000 + rng.randint(0, 999)
                batch.append(_event(f"{customer}-{second}-{n}", customer, time_ms))
        rng.shuffle(batch)
        for record in batch:
            runner.arrive(record)
            steps += 1
            if evict_every and steps % evict_every == 0:
                runner.evict()
        runner.round(second * 1_000)
        if evict_every_rounds and second % evict_every_rounds == 0:
            runner.evict()
    for _ in range(100):  # what a round arms fires in the next
        if not runner.timers:
            break
        runner.round(10**9)
    return runner


@pytest.mark.parametrize(
    ("evict_every", "evict_every_rounds"), [(None, 0), (1, 0), (7, 0), (None, 3)]
)
def test_each_member_is_handled_in_order_once_whatever_the_cache_keeps(
    evict_every: int | None, evict_every_rounds: int
) -> None:
    runner = _drive(evict_every, seed=5, evict_every_rounds=evict_every_rounds)
    assert runner.late == 0
    names = [name for _, name, _ in runner.handled]
    assert len(names) == len(set(names)) > 200
    for member in "ABCDEFZ":
        times = [time for who, _, time in runner.handled if who == member]
        assert times == sorted(times)
    if evict_every or evict_every_rounds:
        assert sorted(runner.handled) == sorted(_drive(None, seed=5).handled)
    # Every customer expired in the end, and with it every timer.
    assert not runner.timers


def test_idle_members_are_forgotten_and_nothing_is_left_at_the_end() -> None:
    # Evicting at every arrival rebuilds the shard from its bags each time: a forgotten
    # member's released records must not come back as waiting (the test above would see them
    # handled twice).
    runner = _drive(None, seed=9, evict_every_rounds=3)
    assert Members.rebuild(runner.log.records, CODER.decode).cells == {}
    assert runner.waiting.records == []


def test_a_record_behind_the_shard_but_ahead_of_its_member_is_not_late() -> None:
    runner = ShardOnTheRunner()
    for name, customer, time_ms in (("a1", "A", 500), ("a2", "A", 9_000), ("b1", "B", 1_000)):
        runner.arrive(_event(name, customer, time_ms))
    # The flush releases a1, the sweep (at a2) b1 and a2 together: the shard is through 9,000,
    # B through 1,000.
    runner.round(10_000)
    runner.arrive(_event("b2", "B", 2_000))  # after B's last record: on time for B
    runner.arrive(_event("c1", "C", 2_000))  # C has never been handled: on time
    runner.arrive(_event("a0", "A", 500))  # A has moved past it: late, handled at once
    assert runner.late == 1
    runner.round(10_000)
    handled = [name for _, name, _ in runner.handled]
    assert handled[:4] == ["a1", "b1", "a2", "a0"]
    assert sorted(handled[4:]) == ["b2", "c1"]


def test_a_job_with_another_shard_count_refuses_the_state() -> None:
    runner = _drive(None, seed=3)
    runner.evict()  # as after a restore into the job below
    other = ShardedTestFn(Ordered(), buffered_customer_key, 2, streaming=True)
    with pytest.raises(ValueError, match="--customer_shards=1, read by one with 2"):
        list(other.process(("0", _event("x", "A", 10**9)), **runner._state(), **runner._timers()))
