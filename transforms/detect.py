"""The customer step: per-customer state, event-time order and the rules (streaming path).

A bounded run scores each customer's grouped history instead (:mod:`transforms.detect_grouped`);
:class:`transforms.fraud_detection.DetectFraud` wires one of them behind the store step, and
both run the loop of :mod:`transforms.customer_scoring`.

The rules depend on order (a customer's history *before* each event), so this step is an
ordered step (:mod:`transforms.ordered_step`): events wait in the customer's cell until the
watermark passes them, and are then scored in event-time order, so a backfill and a streaming
run of the same data, in any arrival order, give the same scores. An event that arrives after
its customer's history has moved past it (a late event) is scored at once against the current
history and counted. A late event's velocity count sees the kept entries of its window (those
within the window of the customer's newest event, at most ``retained_events``), which is what a
bounded run shows it when no newer event has been scored, and fewer when one has.

With ``--customer_shards`` the customers of a shard share one key
(:mod:`transforms.sharded_step`): the same handler, order and lateness per customer, a fraction
of the runner's round trips per event.

State per customer: one cell holding the packed profile and the ordering bookkeeping, and the
events waiting for the watermark in the ordered step's bag (:mod:`transforms.event_time_buffer`).
It expires after ``inactivity_days`` without events, and not before a confirmed compromise has
aged out of FR-008; a blacklist change outlives it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.coders import (
    DetectorCell,
    DetectorCellCoder,
    buffered_event_time,
    decode_buffered,
    is_registered_change,
)
from transforms.counters import (
    LATE_EVENTS,
    NAMESPACE,
    RULES_CHANGES_LATE,
    RULES_CHANGES_LEARNED,
    RULES_CHANGES_UNUSABLE,
)
from transforms.customer_scoring import CustomerScorer
from transforms.domain.model_registry import ModelChange
from transforms.domain.rules_registry import IncompatibleRulesError, RulesChange
from transforms.domain.scoring_registry import RegisteredChange, ScoringRegistry
from transforms.domain.state import CustomerProfile
from transforms.ordered_step import ordered_step
from transforms.sharded_step import sharded_step
from transforms.tags import SCORED_TAG

CUSTOMERS_EXPIRED = "customers_expired"
# More than any worker's shards: lists of shards whose cells were evicted and rebuilt.
_MAX_SHARD_LISTS = 4096
_LOG = logging.getLogger(__name__)


def _version_of(change: RulesChange | ModelChange) -> str:
    return change.model_version if isinstance(change, ModelChange) else change.rules_version


class CustomerHandler:
    """The customer step on the streaming path (:mod:`transforms.ordered_step`).

    Rules and model versions registered while the job runs reach it as records told to every
    shard (:mod:`transforms.sharded_step`, "shared records"): the shard keeps them, and each
    event is scored by the versions in effect at its time
    (:mod:`transforms.domain.scoring_registry`)."""

    def __init__(self, rules: ScoringRegistry, timezone_name: str, pipeline_version: str) -> None:
        self._registry = rules
        self._rules = rules.base  # what shapes the state: alike in every version
        self._timezone_name = timezone_name
        self._pipeline_version = pipeline_version

    def setup(self) -> None:
        # The detector resolves the time zone: once per worker.
        self._scorer = CustomerScorer(self._registry, self._timezone_name, self._pipeline_version)
        # Per shard's list of told changes (by identity): the list, the registry built from
        # it, and how many of its entries that registry has learnt. Each told record is
        # decoded once per worker (shards are told the same ones).
        self._by_list: dict[int, tuple[list[bytes], ScoringRegistry, list[int]]] = {}
        self._decoded: dict[bytes, RegisteredChange | None] = {}
        self._unusable = Metrics.counter(NAMESPACE, RULES_CHANGES_UNUSABLE)

    def shared_time_ms(self, encoded: bytes) -> int | None:
        """A record for every customer of a shard (a registered version), with its effective
        time; None for a customer's own record."""
        return buffered_event_time(encoded) if is_registered_change(encoded) else None

    def share(self, shared: list[bytes]) -> None:
        """The versions the shard was told, before its customers' records are handled.
        The list is only appended to: its registry learns the new entries alone."""
        entry = self._by_list.get(id(shared))
        if entry is None or entry[0] is not shared:
            if len(self._by_list) >= _MAX_SHARD_LISTS:  # lists of shards evicted and rebuilt
                self._by_list.clear()
            entry = (shared, self._registry.copy(), [0])
            self._by_list[id(shared)] = entry
        _, registry, learnt = entry
        while learnt[0] < len(shared):
            self._learn(registry, shared[learnt[0]])
            learnt[0] += 1
        self._scorer.registry = registry

    def _learn(self, registry: ScoringRegistry, encoded: bytes) -> None:
        """A told version into the registry. One kept in state that no longer fits (a release
        or a new --rules since: it was checked when it was told) is skipped and counted, never
        raised: it would fail every release of the shard."""
        if encoded not in self._decoded:
            try:
                decoded = decode_buffered(encoded)
                assert isinstance(decoded, RulesChange | ModelChange)
                self._decoded[encoded] = decoded
            except ValueError as error:
                _LOG.warning("a kept registered version is unusable and skipped: %s", error)
                self._decoded[encoded] = None
        change = self._decoded[encoded]
        if change is None:
            self._unusable.inc()
            return
        try:
            registry.learn(change)
        except IncompatibleRulesError as error:
            _LOG.warning("a kept version is skipped (%s): %s", _version_of(change), error)
            self._unusable.inc()

    def new_cell(self) -> DetectorCell:
        return DetectorCell()

    def handle(self, key: str, cell: DetectorCell, records: list[bytes]) -> Iterator[Any]:
        buffered = [decode_buffered(encoded) for encoded in records]
        for tag, _, record in self._scorer.score_in_order(cell.profile, buffered):
            yield record if tag == SCORED_TAG else beam.pvalue.TaggedOutput(tag, record)

    def expires_at(self, cell: DetectorCell) -> int | None:
        """When nothing in the cell can matter to a later record: the history once the domain
        would forget it (1 ms after a gap of the inactivity period), the verdicts once FR-008's
        period after the newest is over. None: nothing to expire yet."""
        last = cell.profile.last_event_time_ms
        if last is None:
            # A history forgotten by a comeback whose scoring then failed, or feedback alone.
            last = cell.evaluated_through_ms
        if last is None:
            return None
        expires_at = last + self._rules.inactivity_ms + 1
        last_told = cell.profile.verdicts.last_told_ms()
        if last_told is not None:
            # Not before every verdict is one a later report counts as never told (FR-008's
            # period after it): forgetting it earlier could change a later judgement.
            remembered_until = last_told + self._rules.compromised_card.active_ms
            expires_at = max(expires_at, remembered_until + 1)
        return expires_at

    def expire(self, cell: DetectorCell) -> bool:
        profile = cell.profile
        if profile.blacklisted is None:
            return False
        # A blacklist change is reference data, not history: it outlives inactivity.
        cell.profile = CustomerProfile(
            blacklisted=profile.blacklisted, blacklisted_since_ms=profile.blacklisted_since_ms
        )
        return True


DetectFraudFn = ordered_step(
    __name__, "DetectFraudFn", "profile", DetectorCellCoder(), LATE_EVENTS, CUSTOMERS_EXPIRED
)

ShardedDetectFraudFn = sharded_step(
    __name__,
    "ShardedDetectFraudFn",
    "customers",
    DetectorCellCoder(),
    LATE_EVENTS,
    CUSTOMERS_EXPIRED,
    shared_learned_counter=RULES_CHANGES_LEARNED,
    shared_late_counter=RULES_CHANGES_LATE,
)
