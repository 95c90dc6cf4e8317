"""Customers and their legitimate habits: home city, favourite stores, usual amount and hour.

Legitimate behaviour is shaped so that it does not trip the rules by construction: consecutive
legitimate transactions of a customer are at least five minutes apart (so never more than five in
ten minutes) and legitimate travel implies at most 250 km/h.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field
from typing import Final

from pipelines.synthetic.labels import FraudPattern
from pipelines.synthetic.world import HOUR, MINUTE, City, Clock, Store, store_km, weighted_city

_MIN_LEGIT_GAP_S: Final = 5 * MINUTE  # <= 3 legit events in any 10 minutes
LEGIT_MAX_SPEED_KMH: Final = 250.0  # well under the 300 km/h promised, 500 flagged
_LOCAL_RADIUS_KM: Final = 50.0  # FR-003 ignores moves shorter than this
_NULL_COORDS_SHARE: Final = 0.03
_USUAL_STORE_SHARE: Final = 0.85


@dataclass(frozen=True, slots=True)
class Habits:
    """How regular legitimate spending is: the shape of hours, amounts and trips."""

    hour_std_range: tuple[float, float]
    # Legit hours stay within this many stds of the peak.
    hour_truncation_std: float
    amount_sigma_range: tuple[float, float]
    # The per-purchase factor on the customer's mean is clipped to this range.
    amount_factor_range: tuple[float, float]
    trip_share: float
    # (share, price level) of purchase categories; one category at 1.0 means none.
    categories: tuple[tuple[float, float], ...] = ((1.0, 1.0),)


# Rule-shaped: hours within 1.5 std, amounts below 3x a running mean, so that legitimate
# spending never trips a rule by construction.
RULE_SHAPED_HABITS: Final = Habits((1.0, 2.5), 1.5, (0.25, 0.4), (0.4, 2.2), 0.04)
# Realistic: wide hour spreads with night purchases, heavy-tailed amounts by category
# (groceries, pharmacy, clothing, electronics, furniture and travel), more trips.
REALISTIC_HABITS: Final = Habits(
    (1.5, 4.0),
    3.0,
    (0.4, 0.7),
    (0.05, 40.0),
    0.10,
    ((0.55, 0.6), (0.15, 0.4), (0.17, 1.8), (0.09, 5.0), (0.04, 12.0)),
)
_NULL_PRODUCT_SHARE: Final = 0.08
_PAYMENT_METHODS: Final = ("credit_card", "debit_card", "pix", "boleto")
_PAYMENT_CUM_WEIGHTS: Final = (45.0, 70.0, 92.0, 100.0)


@dataclass(slots=True)
class Txn:
    epoch: int
    store: Store
    amount_cents: int
    pattern: FraudPattern | None
    located: bool
    payment_method: str
    product_id: str | None


@dataclass(slots=True)
class Customer:
    index: int
    customer_id: str
    home: City
    usual_stores: tuple[Store, ...]
    usual_cum_weights: tuple[float, ...]
    mean_amount: float  # BRL
    amount_sigma: float
    peak_hour: float  # local time of the home city
    hour_std: float
    rate_per_day: float
    habits: Habits = RULE_SHAPED_HABITS
    blacklisted: bool = False
    txns: list[Txn] = field(default_factory=list)  # sorted by epoch
    times: list[int] = field(default_factory=list)  # epochs of ``txns``
    legit_times: list[int] = field(default_factory=list)  # the original timeline

    def insert(self, txn: Txn) -> None:
        i = bisect.bisect_right(self.times, txn.epoch)
        self.times.insert(i, txn.epoch)
        self.txns.insert(i, txn)


def _bounded_lognormal(
    rng: random.Random, median: float, sigma: float, lo: float, hi: float
) -> float:
    while True:
        value = median * math.exp(rng.gauss(0.0, sigma))
        if lo <= value <= hi:
            return value


def make_customer(
    rng: random.Random,
    index: int,
    home: City,
    open_stores: dict[str, tuple[Store, ...]],
    habits: Habits = RULE_SHAPED_HABITS,
) -> Customer:
    usual = tuple(rng.sample(open_stores[home.code], rng.randint(2, 4)))
    # The first favourite store gets most visits, like a neighbourhood shop.
    weights = [1.0 / (rank + 1) for rank in range(len(usual))]
    return Customer(
        index=index,
        customer_id=f"C{index + 1:06d}",
        home=home,
        usual_stores=usual,
        usual_cum_weights=tuple(sum(weights[: i + 1]) for i in range(len(weights))),
        mean_amount=_bounded_lognormal(rng, 100.0, 0.65, 30.0, 400.0),
        amount_sigma=rng.uniform(*habits.amount_sigma_range),
        peak_hour=rng.uniform(8.0, 21.0),
        hour_std=rng.uniform(*habits.hour_std_range),
        rate_per_day=math.exp(rng.uniform(math.log(0.3), math.log(2.0))),
        habits=habits,
    )


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: fine for the small rates used here.
    threshold, k, p = math.exp(-lam), 0, rng.random()
    while p > threshold:
        k += 1
        p *= rng.random()
    return k


def habit_seconds(rng: random.Random, customer: Customer) -> float:
    """Seconds after local midnight (may spill into the neighbouring day)."""
    limit = customer.habits.hour_truncation_std * customer.hour_std
    while True:
        deviation = rng.gauss(0.0, customer.hour_std)
        if abs(deviation) <= limit:
            return (customer.peak_hour + deviation) * HOUR


def _habit_amount_cents(rng: random.Random, customer: Customer) -> int:
    habits = customer.habits
    sigma = customer.amount_sigma
    lo, hi = habits.amount_factor_range
    level = 1.0
    if len(habits.categories) > 1:
        level = _category_level(rng.random(), habits.categories)
    # Mean-preserving log-normal factor, clipped to keep legit spending within the habits.
    factor = min(hi, max(lo, level * math.exp(rng.gauss(-sigma * sigma / 2, sigma))))
    return max(100, round(customer.mean_amount * factor * 100))


def _category_level(pick: float, categories: tuple[tuple[float, float], ...]) -> float:
    """The price level of the category ``pick`` (uniform in [0, 1)) falls in."""
    cumulative = 0.0
    for share, level in categories:
        cumulative += share
        if pick < cumulative:
            return level
    return categories[-1][1]


def _habit_store(
    rng: random.Random, customer: Customer, open_stores: dict[str, tuple[Store, ...]]
) -> Store:
    if rng.random() < _USUAL_STORE_SHARE:
        return rng.choices(customer.usual_stores, cum_weights=customer.usual_cum_weights)[0]
    return rng.choice(open_stores[customer.home.code])


def _plausible_move(prev_epoch: int, prev: Store, epoch: int, store: Store) -> bool:
    km = store_km(prev, store)
    if km <= _LOCAL_RADIUS_KM:
        return True
    hours = (epoch - prev_epoch) / HOUR
    return hours > 0 and km / hours <= LEGIT_MAX_SPEED_KMH


def legit_timeline(
    rng: random.Random,
    customer: Customer,
    days: int,
    clock: Clock,
    open_stores: dict[str, tuple[Store, ...]],
) -> None:
    trip_city, trip_days = _plan_trip(rng, customer, days)
    raw: list[tuple[int, Store]] = []
    for day in range(days):
        for _ in range(_poisson(rng, customer.rate_per_day)):
            epoch = clock.epoch(customer.home.tz, day, habit_seconds(rng, customer))
            if trip_city is not None and day in trip_days:
                store = rng.choice(open_stores[trip_city.code])
            else:
                store = _habit_store(rng, customer, open_stores)
            raw.append((epoch, store))
    raw.sort(key=lambda item: item[0])

    last_epoch: int | None = None
    last_store: Store | None = None
    for epoch, store in raw:
        if last_epoch is not None and epoch < last_epoch + _MIN_LEGIT_GAP_S:
            # People do not pay twice within five minutes: push it a bit later.
            epoch = last_epoch + _MIN_LEGIT_GAP_S + rng.randrange(0, 10 * MINUTE)
        if (
            last_epoch is not None
            and last_store is not None
            and not _plausible_move(last_epoch, last_store, epoch, store)
        ):
            continue  # still on the road: this purchase never happened
        customer.insert(_legit_txn(rng, customer, epoch, store))
        last_epoch, last_store = epoch, store
    customer.legit_times = list(customer.times)


def _plan_trip(rng: random.Random, customer: Customer, days: int) -> tuple[City | None, range]:
    if days < 3 or rng.random() >= customer.habits.trip_share:
        return None, range(0)
    destination = customer.home
    while destination is customer.home:
        destination = weighted_city(rng)
    first = rng.randrange(1, days - 1)
    return destination, range(first, min(days, first + rng.randint(2, 4)))


def random_txn(
    rng: random.Random, epoch: int, store: Store, cents: int, pattern: FraudPattern | None
) -> Txn:
    method = rng.choices(_PAYMENT_METHODS, cum_weights=_PAYMENT_CUM_WEIGHTS)[0]
    product = None if rng.random() < _NULL_PRODUCT_SHARE else f"P{rng.randint(1, 5000):05d}"
    located = rng.random() >= _NULL_COORDS_SHARE
    return Txn(epoch, store, cents, pattern, located, method, product)


def _legit_txn(rng: random.Random, customer: Customer, epoch: int, store: Store) -> Txn:
    return random_txn(rng, epoch, store, _habit_amount_cents(rng, customer), None)
