"""Progress of a run on stderr: events read and scored, their rates, the time elapsed.

Two tiny branch steps tap the events read and the records scored. Each process keeps one tally
per run (a token fixed when the graph is built, so runs sharing a process, or a long-lived
worker pool, never mix), and whichever step sees an element once the interval has passed
prints one line::

    progress: 12,345 read (1,230/s), 12,300 scored (1,200/s), 10 s elapsed

Where the line lands depends on where the workers run: with FnApiRunner and with Flink's
``LOOPBACK`` environment they run in the launching process, so it is the launcher's stderr;
``LOOPBACK`` worker processes (a Flink job above parallelism 1, or live: pipelines/flink.py)
print to the launcher's stderr too, each its own share; ``EXTERNAL`` workers (the worker pool
sidecar in k8s/) each print their own share into their own log. A process that runs only one
of the two taps says only what it counts (``12,300 scored (1,230/s), ...``), not a misleading
``0 read``. A line is printed only while elements flow, at most once per interval per process,
and the rates are those of the last interval. Counts are per process and approximate when
worker threads race (progress, not accounting: the summary and Beam's counters are exact).

Per element the cost is a counter increment and a monotonic clock read (tens of
nanoseconds, against microseconds for Beam to hand an element to a step); reading the clock
at every element, rather than every N, keeps the interval on a slow live stream.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from time import monotonic
from typing import Any

import apache_beam as beam

DEFAULT_PROGRESS_INTERVAL_S = 10.0


class ProgressTally:
    """One run's counts in one process, and when its next line is due."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.read = 0
        self.scored = 0
        self.started = monotonic()
        self.next_line_at = self.started + interval_s
        self._last_line_at = self.started
        self._last_read = 0
        self._last_scored = 0
        self._printing = threading.Lock()
        # Which taps run in this process (set up by each): a worker may hold only one.
        self.taps: set[str] = set()

    def print_line(self) -> None:
        """Prints the progress line if it is (still) due; one thread prints, the others skip."""
        if not self._printing.acquire(blocking=False):
            return
        try:
            now = monotonic()
            if now < self.next_line_at:
                return
            print(self.line(now), file=sys.stderr, flush=True)
            self._last_line_at, self._last_read, self._last_scored = now, self.read, self.scored
            self.next_line_at = now + self.interval_s
        finally:
            self._printing.release()

    def line(self, now: float) -> str:
        seconds = max(now - self._last_line_at, 1e-9)
        read_rate = (self.read - self._last_read) / seconds
        scored_rate = (self.scored - self._last_scored) / seconds
        parts = []
        if "read" in self.taps or not self.taps:
            parts.append(f"{self.read:,} read ({read_rate:,.0f}/s)")
        if "scored" in self.taps or not self.taps:
            parts.append(f"{self.scored:,} scored ({scored_rate:,.0f}/s)")
        return f"progress: {', '.join(parts)}, {now - self.started:,.0f} s elapsed"


_TALLIES: dict[str, ProgressTally] = {}
_TALLIES_LOCK = threading.Lock()


def tally_for(run_token: str, interval_s: float) -> ProgressTally:
    """This process's tally of the run, created by the first step that asks."""
    with _TALLIES_LOCK:
        tally = _TALLIES.get(run_token)
        if tally is None:
            tally = _TALLIES[run_token] = ProgressTally(interval_s)
        return tally


class _CountReadFn(beam.DoFn):  # type: ignore[misc]
    """Counts each event read into the process's tally; outputs nothing."""

    _tally: ProgressTally  # the process's own, from setup: a tally does not travel
    _TAP = "read"

    def __init__(self, run_token: str, interval_s: float, launcher_pid: int) -> None:
        self._run_token = run_token
        self._interval_s = interval_s
        self._launcher_pid = launcher_pid

    def setup(self) -> None:
        self._tally = tally_for(self._run_token, self._interval_s)
        # In the launcher's process run both taps (FnApiRunner, one LOOPBACK worker), even
        # before the second is set up; a worker process says only what its own taps count.
        in_launcher = os.getpid() == self._launcher_pid
        self._tally.taps.update(("read", "scored") if in_launcher else (self._TAP,))

    def process(self, element: Any) -> tuple[()]:
        tally = self._tally
        tally.read += 1
        if monotonic() >= tally.next_line_at:
            tally.print_line()
        return ()  # a branch: nothing goes on (None would make Beam warn at construction)


class _CountScoredFn(_CountReadFn):
    """Counts each scored record into the process's tally; outputs nothing."""

    _TAP = "scored"

    def process(self, element: Any) -> tuple[()]:
        tally = self._tally
        tally.scored += 1
        if monotonic() >= tally.next_line_at:
            tally.print_line()
        return ()


class ShowProgress:
    """The two taps of one run: ``read`` after the events are read, ``scored`` after they are
    scored. ``interval_s``: seconds between lines."""

    def __init__(self, interval_s: float = DEFAULT_PROGRESS_INTERVAL_S) -> None:
        self._run_token = uuid.uuid4().hex
        self._interval_s = interval_s
        self._launcher_pid = os.getpid()

    def read(self) -> beam.ParDo:
        return beam.ParDo(_CountReadFn(self._run_token, self._interval_s, self._launcher_pid))

    def scored(self) -> beam.ParDo:
        return beam.ParDo(_CountScoredFn(self._run_token, self._interval_s, self._launcher_pid))
