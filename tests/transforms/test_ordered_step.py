"""The ordered step both stateful steps are made of (transforms.ordered_step): what every step
gets from it whatever else runs in the worker."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from transforms.coders import DetectorCellCoder, StoreCellCoder
from transforms.detect import DetectFraudFn
from transforms.store_step import StoreActivityFn

# The store step alone, stateful, in a fresh interpreter: nothing else can have installed the
# Beam workarounds first (the customer step used to be the only one that did).
_STORE_STEP_ALONE = textwrap.dedent(
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.worker import bundle_processor, statecache

    from pipelines.options import FN_API_RUNNER
    from transforms import state_cache_sizing, state_commit
    from transforms.coders import encode_buffered
    from transforms.domain.blacklist import NO_HIT, Blacklist
    from transforms.domain.events import Transaction
    from transforms.store_step import TrackStores
    from decimal import Decimal

    event = Transaction(
        transaction_id="t1", customer_id="c1", store_id="s1", amount=Decimal("10"),
        currency="BRL", event_time_ms=1_790_000_000_000,
    )
    with beam.Pipeline(runner=FN_API_RUNNER, options=PipelineOptions([])) as p:
        (
            p
            | beam.Create([("s1", encode_buffered(event, NO_HIT))])
            | TrackStores(Blacklist(), grouped=False, streaming=False)
        )
    commit = bundle_processor.FnApiUserStateContext.commit
    print(commit is state_commit.commit_pipelined)
    print(statecache.get_deep_size is state_cache_sizing.estimated_size)
    """
)


def test_the_store_step_alone_installs_the_state_workarounds() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _STORE_STEP_ALONE], capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["True", "True"]


def test_each_step_keeps_its_own_state_id_and_cell_coder() -> None:
    # The state id is what a savepoint restores by: renaming it loses every running key.
    assert (StoreActivityFn.CELL.name, type(StoreActivityFn.CELL.coder)) == (
        "store",
        StoreCellCoder,
    )
    assert (DetectFraudFn.CELL.name, type(DetectFraudFn.CELL.coder)) == (
        "profile",
        DetectorCellCoder,
    )
    assert StoreActivityFn.__module__ == "transforms.store_step"
    assert DetectFraudFn.__qualname__ == "DetectFraudFn"
