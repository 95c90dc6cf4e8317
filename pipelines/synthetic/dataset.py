"""The whole data set in memory: configuration, generation, and what it holds."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pipelines.synthetic.customers import (
    REALISTIC_HABITS,
    RULE_SHAPED_HABITS,
    legit_timeline,
    make_customer,
)
from pipelines.synthetic.fraud_patterns import FraudPlan, inject_fraud, pick_blacklisted_stores
from pipelines.synthetic.handbook import compromise_stores, leak_cards
from pipelines.synthetic.labels import FRAUD_PATTERNS, Label
from pipelines.synthetic.malformed import render_malformed
from pipelines.synthetic.rendering import Line, render_valid
from pipelines.synthetic.world import Clock, build_stores, weighted_city


@dataclass(frozen=True, slots=True)
class BlacklistEntry:
    """A row of ``blacklist.csv``."""

    kind: Literal["customer", "store"]
    id: str


WORLDS = ("rules", "handbook")


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    """Knobs of the generator; defaults give ~50k events over 30 days."""

    seed: int = 42
    customers: int = 2000
    days: int = 30
    start: date = date(2026, 10, 1)
    fraud_rate: float = 0.02
    malformed_rate: float = 0.005
    # "rules": legitimate spending never trips a rule and every fraud is shaped after one;
    # "handbook": realistic spending (wide hours, heavy-tailed amounts by category, trips)
    # plus compromised stores and leaked cards (pipelines/synthetic/handbook.py).
    world: Literal["rules", "handbook"] = "rules"

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError("customers must be >= 1")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        if not 0.0 <= self.fraud_rate < 0.5:
            raise ValueError("fraud_rate must be in [0, 0.5)")
        if not 0.0 <= self.malformed_rate < 0.5:
            raise ValueError("malformed_rate must be in [0, 0.5)")
        if self.world not in WORLDS:
            raise ValueError(f"world must be one of {', '.join(WORLDS)}")


@dataclass(frozen=True, slots=True)
class SyntheticDataset:
    """An in-memory dataset.

    ``lines`` are the raw ``events.jsonl`` lines (bytes, no trailing newline,
    in delivery order; some are malformed and may not even be UTF-8).
    ``labels`` has one entry per valid line, in the same order.
    """

    lines: tuple[bytes, ...]
    labels: tuple[Label, ...]
    blacklist: tuple[BlacklistEntry, ...]
    counts: dict[str, int]


def generate_events(config: GeneratorConfig | None = None) -> SyntheticDataset:
    """Generate the whole dataset in memory; deterministic for ``config.seed``."""
    config = config or GeneratorConfig()
    rng = random.Random(config.seed)
    clock = Clock(config.start)
    all_stores = build_stores(rng)

    homes = [weighted_city(rng) for _ in range(config.customers)]
    bad_stores = pick_blacklisted_stores(rng, all_stores, homes)
    open_stores = {
        code: tuple(s for s in stores if s not in bad_stores) for code, stores in all_stores.items()
    }
    handbook = config.world == "handbook"
    habits = REALISTIC_HABITS if handbook else RULE_SHAPED_HABITS
    customers = [make_customer(rng, i, home, open_stores, habits) for i, home in enumerate(homes)]
    for customer in customers:
        legit_timeline(rng, customer, config.days, clock, open_stores)

    plan = FraudPlan.for_rate(sum(len(c.txns) for c in customers), config.fraud_rate)
    bad_customers = inject_fraud(rng, customers, clock, open_stores, config.days, plan, bad_stores)
    if handbook and config.fraud_rate > 0:
        compromise_stores(rng, customers, clock, config.days)
        leak_cards(rng, customers, clock, config.days)

    valid = render_valid(rng, customers)
    malformed = render_malformed(rng, customers, config.malformed_rate, len(valid))
    ordered = sorted(valid + malformed, key=lambda line: line.delivery)  # stable: deterministic

    # With fraud disabled nobody is blacklisted (the stores simply stay unused).
    listed_stores = bad_stores if plan.targets["blacklist"] else ()
    blacklist = tuple(BlacklistEntry("customer", c.customer_id) for c in bad_customers) + tuple(
        BlacklistEntry("store", s.store_id) for s in listed_stores
    )
    labels = tuple(line.label for line in ordered if line.label is not None)
    counts = _count(labels, valid, malformed, blacklist)
    return SyntheticDataset(tuple(line.payload for line in ordered), labels, blacklist, counts)


def _count(
    labels: tuple[Label, ...],
    valid: list[Line],
    malformed: list[Line],
    blacklist: tuple[BlacklistEntry, ...],
) -> dict[str, int]:
    counts: dict[str, int] = {
        "events": len(valid) + len(malformed),
        "valid": len(valid),
        "malformed": len(malformed),
        "legit": sum(not label["is_fraud"] for label in labels),
        "fraud": sum(label["is_fraud"] for label in labels),
    }
    for pattern in FRAUD_PATTERNS:
        counts[pattern] = sum(label["pattern"] == pattern for label in labels)
    counts["blacklisted_customers"] = sum(e.kind == "customer" for e in blacklist)
    counts["blacklisted_stores"] = sum(e.kind == "store" for e in blacklist)
    return counts
