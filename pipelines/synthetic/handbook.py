"""Fraud no single rule names, after the Fraud-Detection-Handbook's simulation.

``compromised_store``
    A skimmer at a store: every transaction there for ``COMPROMISE_DAYS`` is fraud, with the
    customers' ordinary amounts at their ordinary hours. Nothing in any customer's history
    shows it; the store's confirmed frauds do, once the chargebacks arrive.
``leaked_card``
    A card whose number leaked: for ``LEAK_DAYS`` after the leak, a third of its transactions
    are the fraudster's, at ``LEAK_AMOUNT_FACTOR`` times the amount the customer would have
    paid; the rest are the customer's own.

Both turn existing legitimate transactions into fraud (the fraudster acts where and when the
card is used), so they change labels and amounts, never timelines.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Final

from pipelines.synthetic.customers import Customer, Txn
from pipelines.synthetic.world import DAY, Clock

COMPROMISE_DAYS: Final = 28
# A new store is compromised every this many days, on average.
DAYS_PER_COMPROMISE: Final = 5.0
# Stores with fewer legitimate transactions in the window are not worth a skimmer.
MIN_STORE_TRAFFIC: Final = 20
LEAK_DAYS: Final = 14
# Cards leaked per day, per 1,000 customers.
LEAKS_PER_DAY_PER_1000: Final = 1.5
LEAK_SHARE: Final = 1 / 3
LEAK_AMOUNT_FACTOR: Final = 5.0


def compromise_stores(
    rng: random.Random, customers: list[Customer], clock: Clock, days: int
) -> int:
    """Mark every legitimate transaction at a few stores during their compromise as fraud;
    returns how many."""
    by_store: dict[str, list[Txn]] = defaultdict(list)
    for customer in customers:
        for txn in customer.txns:
            if txn.pattern is None:
                by_store[txn.store.store_id].append(txn)
    start = clock.epoch("UTC", 0, 0.0)
    marked = 0
    compromised: set[str] = set()
    for _ in range(max(1, round(days / DAYS_PER_COMPROMISE))):
        first = start + rng.randrange(max(1, days)) * DAY
        window = (first, first + COMPROMISE_DAYS * DAY)
        candidates = [
            store
            for store, txns in sorted(by_store.items())
            if store not in compromised
            and sum(window[0] <= t.epoch < window[1] for t in txns) >= MIN_STORE_TRAFFIC
        ]
        if not candidates:
            continue
        store = rng.choice(candidates)
        compromised.add(store)
        for txn in by_store[store]:
            if window[0] <= txn.epoch < window[1]:
                txn.pattern = "compromised_store"
                marked += 1
    return marked


def leak_cards(rng: random.Random, customers: list[Customer], clock: Clock, days: int) -> int:
    """Leak a few cards a day; a share of each card's later transactions become the
    fraudster's at inflated amounts. Returns how many."""
    start = clock.epoch("UTC", 0, 0.0)
    leaks = round(days * LEAKS_PER_DAY_PER_1000 * len(customers) / 1000)
    marked = 0
    eligible = [c for c in customers if not c.blacklisted]
    for customer in rng.sample(eligible, min(leaks, len(eligible))):
        leaked_at = start + rng.randrange(max(1, days)) * DAY
        for txn in customer.txns:
            if txn.pattern is not None or not leaked_at <= txn.epoch < leaked_at + LEAK_DAYS * DAY:
                continue
            if rng.random() < LEAK_SHARE:
                txn.pattern = "leaked_card"
                txn.amount_cents = round(txn.amount_cents * LEAK_AMOUNT_FACTOR)
                marked += 1
    return marked
