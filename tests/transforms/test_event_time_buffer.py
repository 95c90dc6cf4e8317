"""The ordering buffer's bookkeeping (transforms.event_time_buffer): what waits is appended,
never rewritten per arrival, released in order, and rebuilt from the bag after a restore.

The bag here is a list that counts what is written to it: the stateful steps' tests run the
same code against Beam's own bag state."""

from __future__ import annotations

from decimal import Decimal

import pytest

from transforms.coders import (
    DetectorCell,
    buffered_event_time,
    buffered_order,
    encode_buffered,
    encode_feedback,
)
from transforms.domain.blacklist import NO_HIT
from transforms.domain.events import Transaction
from transforms.domain.feedback import Feedback
from transforms.event_time_buffer import EventTimeBuffer


class CountingBag:
    def __init__(self, records: list[bytes] | None = None) -> None:
        self.records = list(records or [])
        self.added = 0

    def read(self) -> list[bytes]:
        return list(self.records)

    def add(self, value: bytes) -> None:
        self.records.append(value)
        self.added += 1

    def clear(self) -> None:
        self.records = []


def _event(name: str, time_ms: int) -> bytes:
    transaction = Transaction(
        transaction_id=name,
        customer_id="C1",
        store_id="S1",
        amount=Decimal("10"),
        currency="BRL",
        event_time_ms=time_ms,
    )
    return encode_buffered(transaction, NO_HIT)


def _fresh(buffer: EventTimeBuffer) -> tuple[DetectorCell, CountingBag]:
    cell, bag = DetectorCell(), CountingBag()
    buffer.waiting(cell, bag)
    return cell, bag


def test_records_are_released_in_order_once_the_watermark_passes_them() -> None:
    buffer = EventTimeBuffer(buffered_order, streaming=True)
    cell, bag = _fresh(buffer)
    waiting = buffer.waiting(cell, bag)
    told = encode_feedback(Feedback("t0", "C1", "S1", "fraud", 20))

    wakes = [buffer.hold(waiting, bag, record) for record in (_event("b", 20), _event("c", 30))]
    wakes.append(buffer.hold(waiting, bag, _event("a", 20)))
    wakes.append(buffer.hold(waiting, bag, told))
    wakes.append(buffer.hold(waiting, bag, _event("early", 10)))

    # A timer only when a record comes before the pending one.
    assert wakes == [21, None, None, None, 11]
    due = buffer.take_due(cell, waiting, fired_at_ms=21)
    assert due == [_event("early", 10), told, _event("a", 20), _event("b", 20)]
    assert cell.evaluated_through_ms == 20
    assert buffer.rearm(waiting) == 31
    assert buffer.is_late(cell, 20)
    assert not buffer.is_late(cell, 21)


def test_an_arrival_appends_one_record_however_many_wait() -> None:
    buffer = EventTimeBuffer(buffered_order, streaming=True)
    cell, bag = _fresh(buffer)
    waiting = buffer.waiting(cell, bag)
    for index in range(1_000):
        buffer.hold(waiting, bag, _event(f"t{index:04d}", 1_000 + index))

    assert bag.added == 1_000
    assert len(waiting) == 1_000
    # Weighed for the state cache without walking the records.
    assert waiting.record_bytes == sum(len(encoded) for _, encoded in waiting.entries)


def test_the_bag_is_rewritten_a_bounded_number_of_times_per_record() -> None:
    # A hot key whose watermark trails its arrivals by 500 records, for 20,000 records.
    buffer = EventTimeBuffer(buffered_order, streaming=True)
    cell, bag = _fresh(buffer)
    waiting = buffer.waiting(cell, bag)
    released: list[bytes] = []
    for index in range(20_000):
        buffer.hold(waiting, bag, _event(f"t{index:05d}", index))
        if index % 50 == 0 and index >= 500:
            released += buffer.take_due(cell, waiting, fired_at_ms=index - 500 + 1)
            buffer.compact(waiting, bag)
    released += buffer.take_due(cell, waiting, fired_at_ms=10**9)
    buffer.compact(waiting, bag)

    assert [buffered_event_time(record) for record in released] == list(range(20_000))
    assert bag.records == []
    assert waiting.record_bytes == 0
    # Each record is appended once, and rewritten only when at least as many have left.
    assert bag.added <= 3 * 20_000


def test_what_waits_is_rebuilt_from_the_bag_after_a_restore() -> None:
    buffer = EventTimeBuffer(buffered_order, streaming=True, lag_ms=1)
    # Released before the restore (at or before 15), still in the bag, and two waiting.
    bag = CountingBag([_event("old", 10), _event("late", 30), _event("next", 20)])
    cell = DetectorCell(evaluated_through_ms=15)

    waiting = buffer.waiting(cell, bag)

    assert [encoded for _, encoded in waiting.entries] == [_event("next", 20), _event("late", 30)]
    assert waiting.released_in_bag == 1
    # The pending flush is at the earliest waiting record: an earlier arrival moves it.
    assert buffer.hold(waiting, bag, _event("x", 25)) is None
    assert buffer.hold(waiting, bag, _event("y", 18)) == 20


def test_records_an_earlier_release_kept_in_the_cell_move_to_the_bag() -> None:
    buffer = EventTimeBuffer(buffered_order, streaming=True)
    cell = DetectorCell(evaluated_through_ms=5, buffer=[_event("inline", 8)])
    bag = CountingBag([_event("bagged", 7)])

    waiting = buffer.waiting(cell, bag)

    assert cell.buffer == []
    assert bag.records == [_event("bagged", 7), _event("inline", 8)]
    assert buffer.take_due(cell, waiting, fired_at_ms=9) == [
        _event("bagged", 7),
        _event("inline", 8),
    ]


def test_a_bounded_run_wakes_once_for_the_rest_of_a_key() -> None:
    buffer = EventTimeBuffer(buffered_order, streaming=False)
    cell, bag = _fresh(buffer)
    waiting = buffer.waiting(cell, bag)
    for time_ms in (5, 3, 9):
        buffer.hold(waiting, bag, _event(f"t{time_ms}", time_ms))

    assert buffer.take_due(cell, waiting, fired_at_ms=4) == [_event("t3", 3)]
    assert buffer.rearm(waiting) == 10


def test_what_waits_asks_to_be_weighed_again_once_it_has_doubled() -> None:
    # The state cache weighs a cell when it is written, and arrivals do not write it: without
    # this, a hot store's waiting records would grow unweighed past the cache's bound.
    buffer = EventTimeBuffer(buffered_order, streaming=True)
    cell, bag = _fresh(buffer)
    waiting = buffer.waiting(cell, bag)
    grown = []
    for index in range(200):
        buffer.hold(waiting, bag, _event(f"t{index:03d}", index))
        if waiting.outgrew_its_weight():
            grown.append(len(waiting))
            waiting.weighed = len(waiting)  # what the ordered step's write does

    assert grown == [64, 128]


class OneKeyOnTheRunner:
    """One key's ordering as a streaming runner drives it (the part Beam plays): each round
    fires the key's timers at or before the watermark in time order, and timers set while they
    run wait for the next round, as on Flink, where a timer set in a bundle fires after it."""

    def __init__(self) -> None:
        self.buffer = EventTimeBuffer(buffered_order, streaming=True)
        self.cell, self.bag = _fresh(self.buffer)
        self.waiting = self.buffer.waiting(self.cell, self.bag)
        self.timers: dict[str, int] = {}
        self.set_in_round: set[str] = set()
        self.released: list[int] = []
        self.rounds = 0

    def arrive(self, time_ms: int) -> None:
        name = f"t{len(self.bag.records):06d}"
        self._arm(self.buffer.hold(self.waiting, self.bag, _event(name, time_ms)))

    def round(self, watermark_ms: int) -> None:
        self.rounds += 1
        self.set_in_round.clear()
        due = sorted((at, name) for name, at in self.timers.items() if at <= watermark_ms)
        for at, name in due:
            # Every due timer was delivered with the round, each callback sees its own firing
            # (Flink pops them all, then the SDK runs them in order); a timer that an earlier
            # callback of the round set again stays registered at its new time.
            if name not in self.set_in_round:
                del self.timers[name]
            swept = name == "sweep"
            taken = self.buffer.take_due(self.cell, self.waiting, fired_at_ms=at, swept=swept)
            self.released += map(buffered_event_time, taken)
            self._arm(self.buffer.rearm(self.waiting))

    def _arm(self, flush_at: int | None) -> None:
        if flush_at is not None:
            self.timers["flush"] = flush_at
            self.set_in_round.add("flush")
        sweep_at = self.buffer.sweep(self.waiting)
        if sweep_at is not None:
            self.timers["sweep"] = sweep_at
            self.set_in_round.add("sweep")


def _rounds_to_release(times: list[int], watermark_ms: int) -> int:
    """Records at ``times`` arrive, then the watermark jumps to ``watermark_ms``: the rounds
    until every record it passed is released, in order."""
    key = OneKeyOnTheRunner()
    for time_ms in times:
        key.arrive(time_ms)
    passed = sorted(time_ms for time_ms in times if time_ms < watermark_ms)
    while len(key.released) < len(passed):
        assert key.rounds < 10_000, "a record the watermark passed is never released"
        key.round(watermark_ms)
    assert key.released == passed
    return key.rounds


def test_a_busy_key_catches_up_in_a_few_rounds_however_many_wait() -> None:
    # A hot store while the watermark waits: 1,000 records, then the watermark passes them all.
    # With a timer at the earliest record alone this took 1,000 rounds of the runner's timers.
    assert _rounds_to_release(list(range(1_000)), watermark_ms=10_000) <= 5
    # One record far in the future does not hold back the rest.
    assert _rounds_to_release([*range(1_000), 10**12], watermark_ms=10_000) <= 5
    # Nor do many, arriving out of order.
    shuffled = [(index * 7_919) % 1_000 for index in range(1_000)]
    future = [10**12 + index for index in range(200)]
    assert _rounds_to_release(shuffled + future, watermark_ms=10_000) <= 3
    bursts = [burst * 10**6 + index for burst in range(10) for index in range(100)]
    assert _rounds_to_release(bursts, watermark_ms=10**8) <= 15


@pytest.mark.parametrize("watermark_lag_ms", [0, 100, 500])
def test_a_busy_key_in_steady_flow_is_released_within_a_round_of_the_watermark(
    watermark_lag_ms: int,
) -> None:
    # 100 records per round, the watermark at the newest of them or behind it, and one record
    # in a hundred from a terminal whose clock is a day fast: those wait for their time, the
    # rest leave at most a round (a timer set in a round fires in the next) after the watermark
    # passes them, or, when the records run ahead of the watermark, about as far behind as
    # they run ahead. With the flush alone, one record per round left.
    key = OneKeyOnTheRunner()
    for round_index in range(200):
        for index in range(100):
            at = round_index * 100 + index
            key.arrive(at + 86_400_000 if index == 50 else at)
        watermark_ms = round_index * 100 + 100 - watermark_lag_ms
        key.round(watermark_ms)
        if round_index > 5:
            behind = watermark_ms - 1 - key.released[-1]
            assert behind <= 100 + watermark_lag_ms, (
                f"round {round_index}: released through {behind} ms behind"
            )
    assert key.released == sorted(key.released)


def test_a_key_with_one_record_waiting_sets_no_sweep() -> None:
    # The customer step's usual key: the flush alone releases it, one timer, not two.
    buffer = EventTimeBuffer(buffered_order, streaming=True)
    cell, bag = _fresh(buffer)
    waiting = buffer.waiting(cell, bag)
    assert buffer.hold(waiting, bag, _event("a", 10)) == 11
    assert buffer.sweep(waiting) is None
    # Records of the same instant as the earliest: the flush releases them too.
    buffer.hold(waiting, bag, _event("b", 10))
    assert buffer.sweep(waiting) is None
    buffer.hold(waiting, bag, _event("c", 12))
    assert buffer.sweep(waiting) == 13
    # The pending sweep comes first: a later record does not move it.
    buffer.hold(waiting, bag, _event("d", 14))
    assert buffer.sweep(waiting) is None
    # A bounded run never sweeps: its flush already wakes once for the rest.
    bounded = EventTimeBuffer(buffered_order, streaming=False)
    assert bounded.sweep(waiting) is None
