"""Event-time order per key, written once: the stateful DoFn both steps (stores, customers) are.

Beam does not order the elements of a key, yet both steps depend on order. In the spirit of
Beam Java's ``OrderedEventProcessor``, this module owns the ordering (the records waiting for
the watermark, the ``flush`` timer that releases records once the watermark has passed them, the
``sweep`` timer that releases a busy key's backlog in one round, the ``expiry`` timer that
clears an idle key, the late-record path) and hands a step's
:class:`KeyHandler` each key's records in order with its cell. The step only says what handling
a record means, when its key can be forgotten, and what outlives that.

* Records wait (:mod:`transforms.event_time_buffer`: appended to a bag state, sorted in
  memory) until the watermark passes them; they are then handed over sorted by
  :func:`transforms.coders.buffered_order` (time, controls before the events of their instant,
  events by id), the order the grouped path sorts a whole history in, so both paths give the
  same records.
* A timer sees its own time, not the watermark, so ``flush`` (at the earliest waiting record)
  releases only what is due by then: n waiting records would take n rounds of the runner's
  timers. ``sweep`` (:meth:`EventTimeBuffer.sweep`), set while records of two or more
  instants wait, fires at the latest of them within reach and releases all that is due in one
  round.
* A record that arrives after its key has moved past it (late) is handed over at once, alone,
  and counted.
* ``expiry`` is set once, at the handler's :meth:`KeyHandler.expires_at`, and re-arms itself
  when it finds the key active since, instead of being moved at every flush: each timer set is
  a round trip to the runner.
* One cell per key for what the step keeps, written whole when a flush, a late record or an
  expiry changes it, never on an ordinary arrival: the SDK harness pays per state cell touched,
  and its cache keeps the cell between bundles (``OrderedListState``, Beam's own answer, does
  not run on portable Flink). The workarounds of
  :mod:`transforms.state_commit` and :mod:`transforms.state_cache_sizing` are installed by
  every ordered step's ``setup``, so no step depends on another being set up first.

Beam Python declares state and timers as defaults of the DoFn's method parameters, so a step's
DoFn class is made by :func:`ordered_step` with its own state id and cell coder (the state id
is what a savepoint restores by):
``StoreActivityFn = ordered_step(__name__, "StoreActivityFn", ...)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, TypeVar

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

from transforms import state_cache_sizing, state_commit
from transforms.coders import buffered_event_time, buffered_order
from transforms.counters import NAMESPACE
from transforms.event_time_buffer import (
    EventTimeBuffer,
    OrderedCell,
    Waiting,
    to_millis,
    to_timestamp,
)

Cell = TypeVar("Cell", bound=OrderedCell)


class KeyHandler(Protocol[Cell]):
    """What one step does with a key's records; the ordered step does the rest."""

    def setup(self) -> None:
        """Once per worker, before any record (build what is expensive to build)."""

    def new_cell(self) -> Cell:
        """The state of a key never seen (or forgotten)."""

    def handle(self, key: str, cell: Cell, records: list[bytes]) -> Iterator[Any]:
        """Records of ``key`` in order (all later than those handed before, unless late):
        update ``cell`` and yield outputs (``TaggedOutput`` for side outputs)."""

    def expires_at(self, cell: Cell) -> int | None:
        """When nothing the cell holds can matter to a later record (None: nothing yet)."""

    def expire(self, cell: Cell) -> bool:
        """At expiry: keep what outlives it (reference data) in ``cell`` and return True, or
        return False to clear the key."""


class OrderingFn(beam.DoFn):  # type: ignore[misc]
    """What every ordering step's DoFn shares (this module's, and
    :mod:`transforms.sharded_step`'s): its handler, its buffer, its counters, the state
    workarounds installed at set-up, and arming the sweep."""

    def __init__(
        self,
        handler: KeyHandler[Any],
        streaming: bool,
        arrival_lag_ms: int,
        cheap_state_cache_sizing: bool,
        late_counter: str,
        expired_counter: str,
    ) -> None:
        self._handler = handler
        self._buffer = EventTimeBuffer(buffered_order, streaming, arrival_lag_ms)
        self._cheap_sizing = cheap_state_cache_sizing
        self._late = Metrics.counter(NAMESPACE, late_counter)
        self._expired = Metrics.counter(NAMESPACE, expired_counter)

    def setup(self) -> None:
        if self._cheap_sizing:
            state_cache_sizing.install()
        state_commit.install()
        self._handler.setup()

    def _arm_sweep(self, waiting: Waiting, sweep: Any) -> None:
        wake_at = self._buffer.sweep(waiting)
        if wake_at is not None:
            sweep.set(to_timestamp(wake_at))


def ordered_step(
    module: str,
    name: str,
    state_id: str,
    cell_coder: coders.Coder,
    late_counter: str,
    expired_counter: str,
) -> type[beam.DoFn]:
    """A DoFn class that hands a :class:`KeyHandler` each key's records in event-time order.

    Assign it at module level in ``module`` under ``name`` (it pickles by reference). Its
    constructor takes ``(handler, streaming, arrival_lag_ms=0, cheap_state_cache_sizing=True)``;
    ``streaming`` and ``arrival_lag_ms`` are those of
    :class:`~transforms.event_time_buffer.EventTimeBuffer`. Input ``(key, encoded record)``;
    output what the handler yields.
    """
    cell_spec = ReadModifyWriteStateSpec(state_id, cell_coder)
    bag_spec = BagStateSpec(f"{state_id}_waiting", coders.BytesCoder())
    flush_spec = TimerSpec("flush", TimeDomain.WATERMARK)
    sweep_spec = TimerSpec("sweep", TimeDomain.WATERMARK)
    expiry_spec = TimerSpec("expiry", TimeDomain.WATERMARK)

    class OrderedStepFn(OrderingFn):
        CELL, WAITING, FLUSH, SWEEP, EXPIRY = (
            cell_spec,
            bag_spec,
            flush_spec,
            sweep_spec,
            expiry_spec,
        )

        def __init__(
            self,
            handler: KeyHandler[Any],
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

        def process(
            self,
            element: tuple[str, bytes],
            cell_state: Any = beam.DoFn.StateParam(cell_spec),
            bag: Any = beam.DoFn.StateParam(bag_spec),
            flush: Any = beam.DoFn.TimerParam(flush_spec),
            sweep: Any = beam.DoFn.TimerParam(sweep_spec),
            expiry: Any = beam.DoFn.TimerParam(expiry_spec),
        ) -> Iterator[Any]:
            key, encoded = element
            time_ms = buffered_event_time(encoded)
            cell = cell_state.read()
            if cell is None:
                cell = self._handler.new_cell()
                cell.waiting = Waiting()  # a key never seen has nothing in its bag
                changed = True
            else:
                # Read back from the runner (inline records to move, or no cache): written
                # once, so that later reads in the bundle find the rebuilt copy.
                changed = cell.waiting is None
            if self._buffer.is_late(cell, time_ms):
                self._late.inc()
                yield from self._handler.handle(key, cell, [encoded])
                self._arm_expiry(cell, expiry)
                changed = True
            else:
                waiting = self._buffer.waiting(cell, bag)
                wake_at = self._buffer.hold(waiting, bag, encoded)
                if wake_at is not None:
                    flush.set(to_timestamp(wake_at))
                self._arm_sweep(waiting, sweep)
                changed = changed or waiting.outgrew_its_weight()
            # An arrival changes only what waits: the bag has the record, the cached cell the
            # sorted copy. Writing the cell would re-encode the key's whole state per bundle;
            # it is written when rebuilt, and when what waits has doubled since the state cache
            # last weighed it.
            if changed:
                self._write(cell_state, cell)

        @on_timer(flush_spec)  # type: ignore[untyped-decorator]
        def release_in_order(
            self,
            key: str = beam.DoFn.KeyParam,
            fired_at: Any = beam.DoFn.TimestampParam,
            cell_state: Any = beam.DoFn.StateParam(cell_spec),
            bag: Any = beam.DoFn.StateParam(bag_spec),
            flush: Any = beam.DoFn.TimerParam(flush_spec),
            sweep: Any = beam.DoFn.TimerParam(sweep_spec),
            expiry: Any = beam.DoFn.TimerParam(expiry_spec),
        ) -> Iterator[Any]:
            yield from self._release(
                key, fired_at, cell_state, bag, flush, sweep, expiry, swept=False
            )

        @on_timer(sweep_spec)  # type: ignore[untyped-decorator]
        def release_swept(
            self,
            key: str = beam.DoFn.KeyParam,
            fired_at: Any = beam.DoFn.TimestampParam,
            cell_state: Any = beam.DoFn.StateParam(cell_spec),
            bag: Any = beam.DoFn.StateParam(bag_spec),
            flush: Any = beam.DoFn.TimerParam(flush_spec),
            sweep: Any = beam.DoFn.TimerParam(sweep_spec),
            expiry: Any = beam.DoFn.TimerParam(expiry_spec),
        ) -> Iterator[Any]:
            yield from self._release(
                key, fired_at, cell_state, bag, flush, sweep, expiry, swept=True
            )

        def _release(
            self,
            key: str,
            fired_at: Any,
            cell_state: Any,
            bag: Any,
            flush: Any,
            sweep: Any,
            expiry: Any,
            *,
            swept: bool,
        ) -> Iterator[Any]:
            """Either timer: release what waits through its time, in order, and re-arm."""
            cell = cell_state.read()
            if cell is None:
                return
            waiting = self._buffer.waiting(cell, bag)
            due = self._buffer.take_due(cell, waiting, to_millis(fired_at), swept=swept)
            if due:
                yield from self._handler.handle(key, cell, due)
            self._buffer.compact(waiting, bag)
            wake_at = self._buffer.rearm(waiting)
            if wake_at is not None:
                flush.set(to_timestamp(wake_at))
            self._arm_sweep(waiting, sweep)
            self._arm_expiry(cell, expiry)
            self._write(cell_state, cell)

        @on_timer(expiry_spec)  # type: ignore[untyped-decorator]
        def expire_idle_key(
            self,
            fired_at: Any = beam.DoFn.TimestampParam,
            cell_state: Any = beam.DoFn.StateParam(cell_spec),
            bag: Any = beam.DoFn.StateParam(bag_spec),
            flush: Any = beam.DoFn.TimerParam(flush_spec),
            sweep: Any = beam.DoFn.TimerParam(sweep_spec),
            expiry: Any = beam.DoFn.TimerParam(expiry_spec),
        ) -> None:
            cell = cell_state.read()
            if cell is None:
                return
            cell.expiry_at_ms = None
            expires_at = self._handler.expires_at(cell)
            waiting = self._buffer.waiting(cell, bag)
            if waiting or (expires_at is not None and expires_at > to_millis(fired_at)):
                # Active since. With records waiting, their flush re-arms expiry.
                if not waiting:
                    self._arm_expiry(cell, expiry)
                self._write(cell_state, cell)
                return
            self._expired.inc()
            if self._handler.expire(cell):
                self._write(cell_state, cell)
                return
            cell_state.clear()
            bag.clear()
            flush.clear()
            sweep.clear()

        @staticmethod
        def _write(cell_state: Any, cell: Any) -> None:
            if cell.waiting is not None:
                cell.waiting.weighed = len(cell.waiting)
            cell_state.write(cell)

        def _arm_expiry(self, cell: Any, expiry: Any) -> None:
            """Arm expiry unless it is pending: when it fires it checks the cell again."""
            if cell.expiry_at_ms is not None:
                return
            expires_at = self._handler.expires_at(cell)
            if expires_at is None:
                return
            cell.expiry_at_ms = expires_at
            expiry.set(to_timestamp(expires_at))

    # Pickled by reference as ``<module>.<name>``: the module that assigns it under that name.
    OrderedStepFn.__name__ = OrderedStepFn.__qualname__ = name
    OrderedStepFn.__module__ = module
    return OrderedStepFn
