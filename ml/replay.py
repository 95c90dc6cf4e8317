"""Replay raw events through the domain's ``FraudDetector`` to get the model's features.

Training (``ml.train``) and offline evaluation must see exactly the features the streaming
pipeline computes, so this module does not compute any feature itself: it parses the lines
with the pipeline's parser, orders each customer's events as the stateful DoFn does (by
``(event_time_ms, transaction_id)``), and asks ``FraudDetector.assess`` for the features and
rule score (``judge``) before it folds the event into the history (``learn``). Invalid lines
are skipped and counted, as the pipeline dead-letters them.

Rows come out sorted by customer id, then in each customer's replay order, so the same lines
always give the same matrix whatever their delivery order (training is reproducible and the
training-data hash is stable).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Protocol

import numpy as np
import numpy.typing as npt

from transforms.domain.blacklist import EMPTY_BLACKLIST, Blacklist, parse_blacklist_lines
from transforms.domain.config import RulesConfig
from transforms.domain.detector import FraudDetector
from transforms.domain.events import group_by_customer
from transforms.domain.features import FEATURE_NAMES
from transforms.domain.state import CustomerProfile

__all__ = ["Replay", "blacklist_from_entries", "blacklist_from_file", "replay"]


@dataclass(frozen=True, slots=True, eq=False)
class Replay:
    """One row per valid event, sorted by customer, then event order.

    ``features`` has shape ``(rows, len(FEATURE_NAMES))``; the other arrays have one entry
    per row. ``invalid`` counts the lines the parser rejected.
    """

    transaction_ids: tuple[str, ...]
    customer_ids: tuple[str, ...]
    event_time_ms: npt.NDArray[np.int64]
    features: npt.NDArray[np.float64]
    rule_scores: npt.NDArray[np.float64]
    invalid: int

    def __len__(self) -> int:
        return len(self.transaction_ids)


class _EntryLike(Protocol):
    """What :func:`blacklist_from_entries` needs of a ``synthetic.BlacklistEntry``."""

    @property
    def kind(self) -> str: ...

    @property
    def id(self) -> str: ...


def blacklist_from_entries(entries: Iterable[_EntryLike]) -> Blacklist:
    """A :class:`Blacklist` from the generator's in-memory ``BlacklistEntry`` rows."""
    rows = tuple(entries)  # may be a one-shot iterator, and is read twice
    customers = frozenset(entry.id for entry in rows if entry.kind == "customer")
    stores = frozenset(entry.id for entry in rows if entry.kind == "store")
    return Blacklist(customers, stores)


def blacklist_from_file(path: str | None) -> Blacklist:
    """The blacklist CSV at the local ``path`` (``kind,id`` lines), or an empty list without one.

    Training reads local files only (its ``--events`` are local globs), so this needs no Beam
    file system."""
    if not path:
        return EMPTY_BLACKLIST
    with open(path, encoding="utf-8") as handle:
        return parse_blacklist_lines(handle.read().splitlines())


def replay(
    lines: Iterable[bytes | str],
    blacklist: Blacklist,
    rules: RulesConfig,
    zone: tzinfo,
) -> Replay:
    """Parse ``lines`` and judge every valid event against its customer's prior history."""
    by_customer, invalid = group_by_customer(lines, zone)

    detector = FraudDetector(rules, zone)
    transaction_ids: list[str] = []
    customer_ids: list[str] = []
    times: list[int] = []
    rows: list[tuple[float, ...]] = []
    rule_scores: list[float] = []
    for customer_id in sorted(by_customer):
        profile = CustomerProfile()
        for event in by_customer[customer_id]:  # in the stateful DoFn's order
            hit = blacklist.check(event.customer_id, event.store_id)
            judgement = detector.assess(profile, event, hit)
            transaction_ids.append(event.transaction_id)
            customer_ids.append(customer_id)
            times.append(event.event_time_ms)
            rows.append(judgement.features)
            rule_scores.append(judgement.assessment.rule_score)

    features = np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURE_NAMES))
    return Replay(
        transaction_ids=tuple(transaction_ids),
        customer_ids=tuple(customer_ids),
        event_time_ms=np.array(times, dtype=np.int64),
        features=features,
        rule_scores=np.array(rule_scores, dtype=np.float64),
        invalid=invalid,
    )
