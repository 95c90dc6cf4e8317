"""Fraud injected into the customers' own timelines, one method per pattern.

Every fraudulent transaction is anomalous *relative to its customer's history*, as the streaming
rules see it, and keeps a safety margin so that the legitimate transaction after it is not
flagged because of it.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Final

from pipelines.synthetic.customers import (
    LEGIT_MAX_SPEED_KMH,
    Customer,
    Txn,
    habit_seconds,
    random_txn,
)
from pipelines.synthetic.labels import RULE_SHAPED_PATTERNS, FraudPattern
from pipelines.synthetic.world import (
    CITIES,
    DAY,
    HOUR,
    MINUTE,
    City,
    Clock,
    Store,
    city_km,
    store_km,
)

_MIN_HISTORY: Final = 6  # legit events required before high_value/unusual_hour
_FRAUD_MARGIN_S: Final = 10 * MINUTE
_BURST_MARGIN_S: Final = 30 * MINUTE  # keeps legit events out of the burst window
_BURST_SPAN_S: Final = 120
_FAR_CITY_KM: Final = 800.0
_BLACKLISTED_CUSTOMER_SHARE: Final = 0.6  # of the blacklist budget, rest at stores
_PICK_ATTEMPTS: Final = 50
_SLOT_ATTEMPTS: Final = 20


# Share of the fraud budget (in events) given to each pattern.
_PATTERN_SHARES: Final[dict[FraudPattern, float]] = {
    "high_value": 0.22,
    "velocity_burst": 0.26,
    "impossible_travel": 0.20,
    "unusual_hour": 0.16,
    "blacklist": 0.16,
}


def _circular_hour_distance(a: float, b: float) -> float:
    d = abs(a - b) % 24.0
    return min(d, 24.0 - d)


class _Injector:
    """Adds labelled fraud into existing customer timelines.

    Every pattern picks a customer not yet touched by fraud ("victim") and a
    time slot where the fraud cannot make the customer's *legitimate*
    neighbours look suspicious (see the margins in each method).
    """

    def __init__(
        self,
        rng: random.Random,
        customers: list[Customer],
        clock: Clock,
        open_stores: dict[str, tuple[Store, ...]],
        days: int,
    ) -> None:
        self.rng = rng
        self.customers = customers
        self.clock = clock
        self.open_stores = open_stores
        self.days = days
        self.victims: set[int] = set()

    def run(self, target: int, inject_one: Callable[[], int]) -> int:
        """Call ``inject_one`` until ``target`` events are injected (or it keeps failing)."""
        injected = failures = 0
        while injected < target and failures < _PICK_ATTEMPTS:
            n = inject_one()
            injected += n
            if n == 0:
                failures += 1
        return injected

    # -- helpers

    def _pick_victim(self, eligible: Callable[[Customer], bool]) -> Customer | None:
        for _ in range(_PICK_ATTEMPTS):
            customer = self.customers[self.rng.randrange(len(self.customers))]
            if customer.index in self.victims or customer.blacklisted:
                continue
            if eligible(customer):
                return customer
        return None

    def _slot_free(self, customer: Customer, start: int, end: int, margin: int) -> bool:
        """No event within ``margin`` and both neighbours in the home city.

        Fraud other than impossible_travel happens in the home city; requiring
        home-city neighbours means it never creates accidental travel.
        """
        i = bisect.bisect_left(customer.times, start - margin)
        if i < len(customer.times) and customer.times[i] <= end + margin:
            return False
        j = bisect.bisect_left(customer.times, start)
        if j > 0 and customer.txns[j - 1].store.city is not customer.home:
            return False
        return not (j < len(customer.txns) and customer.txns[j].store.city is not customer.home)

    def _habit_epoch(self, customer: Customer) -> int:
        day = self.rng.randrange(self.days)
        return self.clock.epoch(customer.home.tz, day, habit_seconds(self.rng, customer))

    def _usual_store(self, customer: Customer) -> Store:
        return self.rng.choice(customer.usual_stores)

    def _cents(self, customer: Customer, lo: float, hi: float) -> int:
        return round(customer.mean_amount * self.rng.uniform(lo, hi) * 100)

    def _probe_cents(self, customer: Customer) -> int:
        """Card testers probe with small amounts: 2 BRL up to ~0.8x the mean (<= 120 BRL)."""
        ceiling = max(300, min(12_000, round(customer.mean_amount * 80)))
        return self.rng.randint(200, ceiling)

    def _commit(self, customer: Customer, txns: Sequence[Txn]) -> int:
        for txn in txns:
            customer.insert(txn)
        self.victims.add(customer.index)
        return len(txns)

    # -- patterns

    def blacklist_customers(self, target: int) -> list[Customer]:
        """Blacklist customers until their events cover ``target`` (at least one)."""
        chosen: list[Customer] = []
        covered = 0
        for index in self.rng.sample(range(len(self.customers)), len(self.customers)):
            if covered >= max(1, target):
                break
            customer = self.customers[index]
            if not customer.txns:
                continue
            customer.blacklisted = True
            for txn in customer.txns:
                txn.pattern = "blacklist"
            covered += len(customer.txns)
            chosen.append(customer)
        return chosen

    def blacklisted_store_event(self, store: Store) -> int:
        customer = self._pick_victim(lambda c: c.home is store.city and bool(c.txns))
        if customer is None:
            return 0
        for _ in range(_SLOT_ATTEMPTS):
            t = self._habit_epoch(customer)
            if self._slot_free(customer, t, t, _FRAUD_MARGIN_S):
                cents = self._cents(customer, 0.5, 2.0)
                txn = random_txn(self.rng, t, store, cents, "blacklist")
                return self._commit(customer, [txn])
        return 0

    def high_value(self) -> int:
        customer = self._pick_victim(lambda c: len(c.legit_times) >= _MIN_HISTORY)
        if customer is None:
            return 0
        for _ in range(_SLOT_ATTEMPTS):
            t = self._habit_epoch(customer)
            if t <= customer.legit_times[_MIN_HISTORY - 1]:
                continue
            if self._slot_free(customer, t, t, _FRAUD_MARGIN_S):
                cents = self._cents(customer, 5.0, 20.0)
                txn = random_txn(self.rng, t, self._usual_store(customer), cents, "high_value")
                return self._commit(customer, [txn])
        return 0

    def unusual_hour(self) -> int:
        def daytime(c: Customer) -> bool:
            return 9.0 <= c.peak_hour <= 19.0 and len(c.legit_times) >= _MIN_HISTORY

        customer = self._pick_victim(daytime)
        if customer is None:
            return 0
        for _ in range(_SLOT_ATTEMPTS):
            hour = self.rng.uniform(1.0, 5.0)
            # Far enough from the habit (in stds) that a z-score > 2 is clear.
            if _circular_hour_distance(hour, customer.peak_hour) < 3 * customer.hour_std:
                continue
            day = self.rng.randrange(self.days)
            t = self.clock.epoch(customer.home.tz, day, hour * HOUR)
            if t <= customer.legit_times[_MIN_HISTORY - 1]:
                continue
            if self._slot_free(customer, t, t, _FRAUD_MARGIN_S):
                cents = self._cents(customer, 1.5, 4.0)
                txn = random_txn(self.rng, t, self._usual_store(customer), cents, "unusual_hour")
                return self._commit(customer, [txn])
        return 0

    def velocity_burst(self) -> int:
        customer = self._pick_victim(lambda c: True)
        if customer is None:
            return 0
        rng = self.rng
        for _ in range(_SLOT_ATTEMPTS):
            # Card testers work at any hour of the day.
            t0 = self.clock.epoch(customer.home.tz, rng.randrange(self.days), rng.uniform(0, DAY))
            if not self._slot_free(customer, t0, t0 + _BURST_SPAN_S, _BURST_MARGIN_S):
                continue
            size = rng.randint(8, 12)
            offsets = [0, *sorted(rng.sample(range(1, _BURST_SPAN_S + 1), size - 1))]
            stores = rng.sample(self.open_stores[customer.home.code], rng.randint(1, 3))
            burst = [
                random_txn(
                    rng,
                    t0 + offset,
                    rng.choice(stores),
                    self._probe_cents(customer),
                    "velocity_burst",
                )
                for offset in offsets
            ]
            return self._commit(customer, burst)
        return 0

    def impossible_travel(self) -> int:
        customer = self._pick_victim(lambda c: bool(c.legit_times))
        if customer is None:
            return 0
        rng = self.rng
        for _ in range(_SLOT_ATTEMPTS):
            i = rng.randrange(len(customer.txns))
            anchor = customer.txns[i]
            if anchor.pattern is not None or not anchor.located:
                continue
            far = [c for c in CITIES if city_km(c, anchor.store.city) >= _FAR_CITY_KM]
            store = rng.choice(self.open_stores[rng.choice(far).code])
            t = anchor.epoch + rng.randint(10 * MINUTE, 60 * MINUTE)
            if not self._next_event_can_follow(customer, i, t, store):
                continue
            cents = self._cents(customer, 0.5, 2.5)
            txn = random_txn(rng, t, store, cents, "impossible_travel")
            txn.located = True  # the whole point: the detector must see where it was
            return self._commit(customer, [txn])
        return 0

    def _next_event_can_follow(
        self, customer: Customer, anchor_index: int, t: int, store: Store
    ) -> bool:
        """The anchor must be the last event before ``t``, and the customer's
        next event must be reachable from the fraud's store at legit speed, so
        only the fraud itself looks like impossible travel."""
        nxt = anchor_index + 1
        if nxt >= len(customer.txns):
            return True
        following = customer.txns[nxt]
        travel_s = store_km(store, following.store) / LEGIT_MAX_SPEED_KMH * HOUR
        return following.epoch >= t + max(_FRAUD_MARGIN_S, travel_s)


@dataclass(frozen=True, slots=True)
class FraudPlan:
    targets: dict[FraudPattern, int]

    @staticmethod
    def for_rate(n_legit: int, fraud_rate: float) -> FraudPlan:
        if fraud_rate <= 0 or n_legit == 0:
            return FraudPlan(dict.fromkeys(RULE_SHAPED_PATTERNS, 0))
        # fraud / (legit + fraud) == fraud_rate
        total = n_legit * fraud_rate / (1.0 - fraud_rate)
        return FraudPlan({p: max(1, round(total * share)) for p, share in _PATTERN_SHARES.items()})


def pick_blacklisted_stores(
    rng: random.Random, stores: dict[str, tuple[Store, ...]], homes: list[City]
) -> tuple[Store, ...]:
    """One or two stores in cities where customers live (so someone can shop there)."""
    picked: list[Store] = []
    for _ in range(1 if len(homes) < 1000 else 2):
        city = rng.choice(homes)
        candidates = [s for s in stores[city.code] if s not in picked]
        picked.append(rng.choice(candidates))
    return tuple(sorted(picked, key=lambda s: s.store_id))


def inject_fraud(
    rng: random.Random,
    customers: list[Customer],
    clock: Clock,
    open_stores: dict[str, tuple[Store, ...]],
    days: int,
    plan: FraudPlan,
    bad_stores: tuple[Store, ...],
) -> list[Customer]:
    """Inject every pattern; returns the blacklisted customers."""
    targets = plan.targets
    if targets["blacklist"] == 0:
        return []
    injector = _Injector(rng, customers, clock, open_stores, days)
    by_customers = round(targets["blacklist"] * _BLACKLISTED_CUSTOMER_SHARE)
    bad_customers = injector.blacklist_customers(by_customers)
    covered = sum(len(c.txns) for c in bad_customers)
    at_stores = max(2, targets["blacklist"] - covered)
    for k in range(at_stores):
        injector.run(1, partial(injector.blacklisted_store_event, bad_stores[k % len(bad_stores)]))
    injector.run(targets["high_value"], injector.high_value)
    injector.run(targets["velocity_burst"], injector.velocity_burst)
    injector.run(targets["impossible_travel"], injector.impossible_travel)
    injector.run(targets["unusual_hour"], injector.unusual_hour)
    return sorted(bad_customers, key=lambda c: c.index)
