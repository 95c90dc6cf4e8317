"""Collect a PCollection's elements into this process, for comparing two pipeline runs.

Beam pickles the functions it runs; a module-level function is pickled by reference, so the
in-process runners append to this module's store rather than to a copy.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any

_STORE: dict[str, list[Any]] = {}


def _append(name: str, item: Any) -> None:
    _STORE.setdefault(name, []).append(item)


def new_collector() -> tuple[str, Callable[[Any], None]]:
    name = uuid.uuid4().hex
    _STORE[name] = []
    return name, functools.partial(_append, name)


def take(name: str) -> list[Any]:
    return _STORE.pop(name)
