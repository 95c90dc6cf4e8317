"""DetectFraud: the detector's wiring, from valid events (and what is told) to scored records.

Events are screened against the initial blacklist and keyed by store; feedback and blacklist
changes are routed to the state they change; the store step (:mod:`transforms.store_step`)
gives each event its store's counts and hands it, keyed by customer, to the customer step
(:mod:`transforms.detect` on the stateful path, :mod:`transforms.detect_grouped` on the grouped
one). Which path runs, and whether the two steps need a shuffle between them, is decided here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.coders import (
    buffered_customer_key,
    decode_buffered,
    encode_blacklist_change,
    encode_buffered,
    encode_buffered_registered_change,
    encode_feedback,
)
from transforms.counters import NAMESPACE, STORE_CHANGES_UNAPPLIED
from transforms.detect import CustomerHandler, DetectFraudFn, ShardedDetectFraudFn
from transforms.detect_grouped import ScoreCustomerHistoryFn
from transforms.domain.blacklist import Blacklist, BlacklistHit
from transforms.domain.blacklist_changes import BlacklistChange
from transforms.domain.config import RulesConfig
from transforms.domain.events import Transaction
from transforms.domain.feedback import Feedback
from transforms.domain.rules_registry import RulesRegistry
from transforms.domain.scoring_registry import ScoringRegistry
from transforms.sharded_step import shard_of
from transforms.store_step import TrackStores
from transforms.tags import DLQ_TAG, SCORED_TAG


class DetectFraud(beam.PTransform):  # type: ignore[misc]
    """Valid events in, with any feedback; rule-scored transactions out (``scored``, with the
    anomaly model's ``ml_features``) plus a ``dlq`` output. ``ScoreAnomalies`` blends in the
    model next.

    Input: the events, or ``{"events": ..., "feedback": ..., "blacklist_changes": ...,
    "rules_changes": ...}``.
    Events pass the store step (:mod:`transforms.store_step`: their store's counts) and then
    the customer step. Feedback goes to both (a store counts frauds only), a blacklist change
    to its store or customer; each is stamped at its own time and counts from then on.

    ``grouped``: handle each store's and customer's whole history in one go
    (``transforms.detect_grouped``) instead of through state and timers
    (``transforms.detect``); the default follows ``streaming`` (a bounded run is grouped).
    Both give the same records.

    ``track_stores=False`` leaves the store step out: no store counts (FR-007 cannot fire) and
    the store blacklist is the initial list (store changes are counted as
    ``store_blacklist_changes_unapplied``). The customer step then runs alone, which is how
    its streaming behaviour is tested on the Python direct runner: that runner does not hold
    the watermark for a timer's output, so a stateful step behind another one sees the
    upstream timer's records late there (Flink holds it).

    ``break_fusion``: on the stateful path, put a shuffle between the two steps, which Python's
    in-process runner needs; Flink does not (``pipelines.fraud`` turns it off there).

    ``customer_shards``: on the stateful path, key the customer step by shard of customers
    (:mod:`transforms.sharded_step`) instead of by customer (0). The same records either way.

    ``rules``: one version, or a registry of rules (and model) versions each effective from its
    time (:mod:`transforms.domain.scoring_registry`): every event is scored by the rules in
    effect at its time, and names the model version in effect then for ``ScoreAnomalies``.
    ``rules_changes`` (versions of either kind registered while the job runs) are told to every
    customer shard, so they need the stateful path with shards; a bounded run is given its
    versions in ``rules``.
    """

    def __init__(
        self,
        rules: RulesConfig | RulesRegistry | ScoringRegistry,
        timezone_name: str,
        blacklist: Blacklist,
        pipeline_version: str,
        cheap_state_cache_sizing: bool = True,
        streaming: bool = False,
        grouped: bool | None = None,
        track_stores: bool = True,
        break_fusion: bool = True,
        customer_shards: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(rules, ScoringRegistry):
            rules = ScoringRegistry.of(rules)
        self._break_fusion = break_fusion
        self._grouped = not streaming if grouped is None else grouped
        self._streaming = streaming
        self._track_stores = track_stores
        self._cheap_sizing = cheap_state_cache_sizing
        self._shards = 0 if self._grouped else customer_shards
        # Events come from the store step's timers, stamped 1 ms or more after their time.
        lag_ms = 1 if track_stores else 0
        self._fn: beam.DoFn
        if self._grouped:
            self._fn = ScoreCustomerHistoryFn(rules, timezone_name, pipeline_version)
        elif self._shards:
            self._fn = ShardedDetectFraudFn(
                CustomerHandler(rules, timezone_name, pipeline_version),
                buffered_customer_key,
                self._shards,
                streaming,
                arrival_lag_ms=lag_ms,
                cheap_state_cache_sizing=cheap_state_cache_sizing,
            )
        else:
            self._fn = DetectFraudFn(
                CustomerHandler(rules, timezone_name, pipeline_version),
                streaming,
                arrival_lag_ms=lag_ms,
                cheap_state_cache_sizing=cheap_state_cache_sizing,
            )
        self._blacklist = blacklist

    def expand(self, inputs: Any) -> Any:
        if not isinstance(inputs, dict):
            inputs = {"events": inputs}
        # The blacklist is checked before keying: the stateful steps work in timer callbacks,
        # which cannot read side inputs. It is a value shipped with the transform, not a side
        # input, which the portable Flink runner cannot checkpoint (docs/runners/flink.md,
        # "Side inputs break checkpoints on the portable Flink runner"). The store step gives the
        # store's verdict, changes included.
        blacklist, track_stores = self._blacklist, self._track_stores
        keyed = inputs["events"] | "ScreenAndKey" >> beam.Map(
            _screen_and_key, blacklist, track_stores
        ).with_output_types(tuple[str, bytes])
        controls = []
        if inputs.get("feedback") is not None:
            controls.append(
                inputs["feedback"]
                | "EncodeFeedback" >> beam.Map(encode_feedback).with_output_types(bytes)
            )
        if inputs.get("blacklist_changes") is not None:
            controls.append(
                inputs["blacklist_changes"]
                | "EncodeChanges" >> beam.Map(encode_blacklist_change).with_output_types(bytes)
            )
        to_customers = []
        if controls:
            routed = (
                controls
                | "AllControls" >> beam.Flatten()
                | "RouteControls"
                >> beam.ParDo(_RouteControlFn(track_stores)).with_outputs(
                    _TO_STORES, main=_TO_CUSTOMERS
                )
            )
            to_customers.append(self._by_shard(routed[_TO_CUSTOMERS], "ControlsByShard"))
            if track_stores:
                keyed = (keyed, routed[_TO_STORES]) | "StoreRecords" >> beam.Flatten()
        if track_stores:
            keyed = keyed | "TrackStores" >> TrackStores(
                blacklist, self._grouped, self._streaming, self._cheap_sizing
            )
        # Keyed by shard before the steps' shuffle and the flatten with the controls, as the
        # customer-keyed records were: Python's runner fuses a map after them into the store
        # step's stage, whose timers then share their buffers with the customer step's.
        keyed = self._by_shard(keyed, "KeyByShard")
        if track_stores and not self._grouped and self._break_fusion:
            # Python's FnApiRunner fuses the customer step into the store step's stage and
            # then loses the timers the customer step sets while the store's timers emit.
            # Flink's fuser never fuses a stateful step into a stage: no shuffle needed.
            keyed = keyed | "SeparateSteps" >> beam.Reshuffle()
        if inputs.get("rules_changes") is not None:
            to_customers.append(self._to_every_shard(inputs["rules_changes"]))
        if to_customers:
            keyed = (keyed, *to_customers) | "CustomerRecords" >> beam.Flatten()
        if self._grouped:
            keyed = keyed | "GroupByCustomer" >> beam.GroupByKey()
            step = "ScoreCustomerHistory"
        else:
            step = "ScoreInEventTimeOrder"
        return keyed | step >> beam.ParDo(self._fn).with_outputs(DLQ_TAG, main=SCORED_TAG)

    def _to_every_shard(self, changes: Any) -> Any:
        if self._grouped or not self._shards:
            raise ValueError(
                "versions registered while the job runs need the stateful path with customer "
                "shards (--customer_shards > 0); a bounded run takes its versions with the rules"
            )
        return (
            changes
            | "EncodeRulesChanges"
            >> beam.Map(encode_buffered_registered_change).with_output_types(bytes)
            | "ToEveryShard"
            >> beam.FlatMap(_to_every_shard, self._shards).with_output_types(tuple[str, bytes])
        )

    def _by_shard(self, keyed: Any, label: str) -> Any:
        """Customer-keyed records keyed by their customer's shard (as they are without shards)."""
        if not self._shards:
            return keyed
        return keyed | label >> beam.Map(_to_shard, self._shards).with_output_types(
            tuple[str, bytes]
        )


_TO_CUSTOMERS, _TO_STORES = "customers", "stores"


class _RouteControlFn(beam.DoFn):  # type: ignore[misc]
    """Feedback and blacklist changes to the step whose state they change: every verdict to
    its customer and its store (both keep the latest word on each transaction); a change to its
    customer or its store."""

    def __init__(self, track_stores: bool) -> None:
        self._track_stores = track_stores
        self._unapplied = Metrics.counter(NAMESPACE, STORE_CHANGES_UNAPPLIED)

    def process(self, encoded: bytes) -> Iterator[Any]:
        record = decode_buffered(encoded)
        store_id = None
        if isinstance(record, Feedback):
            yield record.customer_id, encoded
            store_id = record.store_id
        elif isinstance(record, BlacklistChange):
            if record.kind == "customer":
                yield record.id, encoded
            else:
                store_id = record.id
        if store_id is None:
            return
        if self._track_stores:
            yield beam.pvalue.TaggedOutput(_TO_STORES, (store_id, encoded))
        elif isinstance(record, BlacklistChange):
            self._unapplied.inc()  # without the store step only the initial list holds


def _screen_and_key(event: Transaction, blacklist: Blacklist, by_store: bool) -> tuple[str, bytes]:
    # A typed str key gives the deterministic key coder that keyed state requires. Keyed by
    # store, the store step gives the store's blacklist verdict.
    if by_store:
        hit = BlacklistHit(event.customer_id in blacklist.customers, False)
        return event.store_id, encode_buffered(event, hit)
    return event.customer_id, encode_buffered(
        event, blacklist.check(event.customer_id, event.store_id)
    )


def _to_every_shard(encoded: bytes, shards: int) -> Iterator[tuple[str, bytes]]:
    for shard in range(shards):
        yield str(shard), encoded


def _to_shard(keyed: tuple[str, bytes], shards: int) -> tuple[str, bytes]:
    customer_id, encoded = keyed
    return shard_of(customer_id, shards), encoded
