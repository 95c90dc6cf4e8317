"""Guards a Beam internal we touch: how the SDK harness commits a bundle's user state.

The runner side is a recording state handler: it shows which requests were sent, in what
order, and when the harness waited for an answer.
"""

from __future__ import annotations

from typing import Any

import pytest
from apache_beam.coders import BytesCoder
from apache_beam.runners.worker import bundle_processor

from transforms import state_commit


class _Answer:
    def __init__(self, log: list[str], request: str) -> None:
        self._log, self._request = log, request

    def get(self) -> None:
        self._log.append(f"wait {self._request}")


class _RecordingHandler:
    def __init__(self) -> None:
        self.log: list[str] = []

    def clear(self, key: str) -> _Answer:
        self.log.append(f"clear {key}")
        return _Answer(self.log, f"clear {key}")

    def extend(self, key: str, coder: Any, elements: list[bytes]) -> _Answer:
        self.log.append(f"append {key} {b','.join(elements).decode()}")
        return _Answer(self.log, f"append {key}")


def _context_with_cells(handler: _RecordingHandler, keys: list[str]) -> Any:
    context = bundle_processor.FnApiUserStateContext.__new__(bundle_processor.FnApiUserStateContext)
    context._all_states = {}
    for key in keys:
        bag = bundle_processor.SynchronousBagRuntimeState(handler, key, BytesCoder())
        cell = bundle_processor.ReadModifyWriteRuntimeState(bag)
        cell.write(f"value-{key}".encode())
        context._all_states[(key,)] = cell
    return context


@pytest.fixture
def installed() -> Any:
    state_commit.install()
    yield
    state_commit.uninstall()


def test_beams_commit_waits_for_each_cell_before_the_next() -> None:
    # What the workaround exists for: if Beam stops doing this, it may be removed.
    handler = _RecordingHandler()
    # Beam's own method, whatever an earlier pipeline in this process installed.
    state_commit.ORIGINAL_COMMIT(_context_with_cells(handler, ["a", "b"]))
    assert handler.log == [
        "clear a",
        "append a value-a",
        "wait append a",
        "clear b",
        "append b value-b",
        "wait append b",
    ]


def test_the_pipelined_commit_sends_every_cell_then_waits_once_per_cell(installed: Any) -> None:
    handler = _RecordingHandler()
    _context_with_cells(handler, ["a", "b", "c"]).commit()
    assert handler.log == [
        "clear a",
        "append a value-a",
        "clear b",
        "append b value-b",
        "clear c",
        "append c value-c",
        "wait append a",
        "wait append b",
        "wait append c",
    ]


def test_a_cleared_cell_sends_only_its_clear(installed: Any) -> None:
    handler = _RecordingHandler()
    context = _context_with_cells(handler, ["a"])
    context._all_states[("a",)].clear()
    context.commit()
    assert handler.log == ["clear a", "wait clear a"]


def test_install_and_uninstall_swap_the_harness_method() -> None:
    state_commit.install()
    try:
        assert bundle_processor.FnApiUserStateContext.commit is state_commit.commit_pipelined
    finally:
        state_commit.uninstall()
    assert bundle_processor.FnApiUserStateContext.commit is state_commit.ORIGINAL_COMMIT
