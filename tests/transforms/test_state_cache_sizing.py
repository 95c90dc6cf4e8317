"""Guards a Beam internal we touch: the SDK harness state cache's weigher."""

from __future__ import annotations

from apache_beam.runners.worker import statecache

from transforms import state_cache_sizing
from transforms.coders import DetectorCell


def test_install_replaces_the_weigher_that_the_state_cache_calls() -> None:
    original = statecache.get_deep_size
    try:
        state_cache_sizing.install()
        cache = statecache.StateCache(max_weight=10_000)
        cache.put("customer", [DetectorCell()])
        # The cache weighs entries through the module-level function we replaced: if a Beam
        # upgrade stops calling it, this weight stops matching and the workaround is dead code.
        assert cache.size() == 1
        assert cache._current_weight == state_cache_sizing.estimated_size([DetectorCell()])
    finally:
        statecache.get_deep_size = original


def test_estimated_size_counts_members_of_lists() -> None:
    one = state_cache_sizing.estimated_size([DetectorCell()])
    three = state_cache_sizing.estimated_size([DetectorCell(), DetectorCell(), DetectorCell()])
    assert three - one >= 2 * DetectorCell().__sizeof__()
