"""Workaround: cheap weights for the SDK harness's user-state cache.

Beam's Python SDK harness weighs every value it caches with ``objsize.get_deep_size``, which
walks all of ``sys.modules`` on each call (~1-1.7 ms). For a stateful DoFn that touches state
per event this dominates: measured here, the fraud DoFn ran ~1.6k events/s with it (see
docs/runners/direct.md, "State cost and the state cache", and benchmarks/pipeline_throughput.py).
Our cached values are small lists of our own objects, so a shallow size of the list and its
members (our state classes define ``__sizeof__`` as a deep estimate) weighs them well enough
for an LRU bound.

This touches a Beam internal (``apache_beam.runners.worker.statecache.get_deep_size``);
tests/transforms/test_state_cache_sizing.py fails if a Beam upgrade removes or bypasses it.
"""

from __future__ import annotations

import sys
from typing import Any

from apache_beam.runners.worker import statecache


def estimated_size(*values: Any) -> int:
    """Shallow size, plus for a list or tuple its length times the size of its first member.

    Members of one state value share a type and shape (buffered events, one profile cell),
    so the first one stands for the rest without walking them all.
    """
    total = 0
    for value in values:
        total += sys.getsizeof(value)
        if isinstance(value, list | tuple) and value:
            total += len(value) * estimated_size(value[0])
    return total


def install() -> None:
    """Replace the cache weigher in this worker process. Idempotent."""
    statecache.get_deep_size = estimated_size
