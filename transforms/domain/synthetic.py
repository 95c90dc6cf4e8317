"""Seeded, reproducible synthetic card transactions for StreamFlow.

The story the data tells
------------------------
A Brazilian retail network has stores in twelve real cities. Every customer
lives in one of them, shops at two to four favourite stores there, spends a
personal typical amount (log-normal around a per-customer mean of roughly
30-400 BRL) around a personal peak hour of the day, and buys 0.3-2 times a
day. A few customers travel to another city for some days, always leaving
enough time between cities to be physically possible.

Fraud is then injected into those same timelines, so that every fraudulent
transaction is anomalous *relative to its customer's history*, exactly as
the streaming rules see it:

``high_value``
    5-20x the customer's mean amount, at a usual store and a usual hour,
    only once the customer has at least six legitimate transactions (FR-001).
``velocity_burst``
    8-12 small card-testing transactions within two minutes in the home
    city (FR-002).
``impossible_travel``
    a transaction in a city at least 800 km away 10-60 minutes after a
    legitimate located transaction (FR-003).
``unusual_hour``
    a transaction at 01:00-04:59 local time for a daytime customer, at
    1.5-4x the mean amount, after six legitimate transactions (FR-004).
``blacklist``
    every transaction of a handful of blacklisted customers plus some
    transactions at one or two blacklisted stores (FR-005).

Legitimate behaviour is shaped so that it does not trip the rules by
construction: consecutive legitimate transactions of a customer are at least
five minutes apart (so never more than five in ten minutes), legitimate
travel implies at most 250 km/h, and injected fraud keeps a safety margin
around it so that the legitimate transaction that follows a fraud is not
flagged because of it.

What the files look like
------------------------
Events are what a messy producer fleet would deliver: ~70% ``schema_version``
2 with an ISO-8601 timestamp carrying the store's UTC offset (or ``Z``),
~30% legacy v1 with a naive timestamp in business time (America/Sao_Paulo),
a few forward-compatible v3 events with an unknown extra field, amounts
mostly as 2-decimal strings but sometimes as JSON numbers, a few events
without coordinates, delivery slightly out of event-time order, and a small
share of malformed lines (broken JSON, invalid UTF-8, bad amounts, ...) that
have no label. Ground truth lives in a separate labels file, never in the
events.

Everything is derived from one ``random.Random(seed)`` -- including the
transaction UUIDs -- so the same seed always yields byte-identical files.

Public API
----------
``generate_events(config)``
    in-memory generation, returns a :class:`SyntheticDataset`.
``write_dataset(dataset, output_dir)`` / ``generate_dataset(output_dir, ...)``
    write ``events.jsonl``, ``labels.jsonl`` and ``blacklist.csv`` and return
    a :class:`DatasetPaths`.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Final, Literal, TypedDict
from zoneinfo import ZoneInfo

from transforms.domain.geo import haversine_km

__all__ = [
    "BUSINESS_TZ",
    "CITIES",
    "FRAUD_PATTERNS",
    "MALFORMED_KINDS",
    "BlacklistEntry",
    "City",
    "DatasetPaths",
    "FraudPattern",
    "GeneratorConfig",
    "Label",
    "Store",
    "SyntheticDataset",
    "generate_dataset",
    "generate_events",
    "write_dataset",
]

FraudPattern = Literal[
    "high_value", "velocity_burst", "impossible_travel", "unusual_hour", "blacklist"
]
FRAUD_PATTERNS: Final[tuple[FraudPattern, ...]] = (
    "high_value",
    "velocity_burst",
    "impossible_travel",
    "unusual_hour",
    "blacklist",
)

# Share of the fraud budget (in events) given to each pattern.
_PATTERN_SHARES: Final[dict[FraudPattern, float]] = {
    "high_value": 0.22,
    "velocity_burst": 0.26,
    "impossible_travel": 0.20,
    "unusual_hour": 0.16,
    "blacklist": 0.16,
}

MALFORMED_KINDS: Final[tuple[str, ...]] = (
    "not_json",
    "json_array",
    "missing_customer_id",
    "negative_amount",
    "amount_3_decimals",
    "non_numeric_amount",
    "v2_timestamp_without_offset",
    "latitude_without_longitude",
    "latitude_out_of_range",
    "empty_transaction_id",
    "lowercase_currency",
    "invalid_utf8",
    "schema_version_0",
    "nan_amount",
)

# Legacy v1 producers stamp naive wall-clock time in the business time zone.
BUSINESS_TZ: Final = ZoneInfo("America/Sao_Paulo")

_MINUTE: Final = 60
_HOUR: Final = 3600
_DAY: Final = 86_400

# Legitimate behaviour.
_MIN_LEGIT_GAP_S: Final = 5 * _MINUTE  # <= 3 legit events in any 10 minutes
_LEGIT_MAX_SPEED_KMH: Final = 250.0  # well under the 300 km/h promised, 500 flagged
_LOCAL_RADIUS_KM: Final = 50.0  # FR-003 ignores moves shorter than this
_TRIP_SHARE: Final = 0.04
_NULL_COORDS_SHARE: Final = 0.03
_USUAL_STORE_SHARE: Final = 0.85
# Legit hours stay within 1.5 std of the peak so they rarely look "unusual".
_HOUR_TRUNCATION_STD: Final = 1.5
# Legit amounts are capped so a legit purchase stays below 3x a running mean.
_AMOUNT_FACTOR_RANGE: Final = (0.4, 2.2)

# Fraud injection.
_MIN_HISTORY: Final = 6  # legit events required before high_value/unusual_hour
_FRAUD_MARGIN_S: Final = 10 * _MINUTE
_BURST_MARGIN_S: Final = 30 * _MINUTE  # keeps legit events out of the burst window
_BURST_SPAN_S: Final = 120
_FAR_CITY_KM: Final = 800.0
_BLACKLISTED_CUSTOMER_SHARE: Final = 0.6  # of the blacklist budget, rest at stores
_PICK_ATTEMPTS: Final = 50
_SLOT_ATTEMPTS: Final = 20

# Rendering.
_V1_SHARE: Final = 0.30
_V3_SHARE: Final = 0.004
_UTC_Z_SHARE: Final = 0.2
_NUMERIC_AMOUNT_SHARE: Final = 0.2
_NULL_PRODUCT_SHARE: Final = 0.08
_GPS_NOISE_DEG: Final = 0.0004  # ~45 m around the store

_PAYMENT_METHODS: Final = ("credit_card", "debit_card", "pix", "boleto")
_PAYMENT_CUM_WEIGHTS: Final = (45.0, 70.0, 92.0, 100.0)
_V3_CHANNELS: Final = ("pos", "mobile_app", "web")


# --------------------------------------------------------------------------- world


@dataclass(frozen=True, slots=True)
class City:
    """A real Brazilian city; ``weight`` is its share of customers (~metro size)."""

    code: str
    name: str
    latitude: float
    longitude: float
    tz: str
    weight: float
    n_stores: int


@dataclass(frozen=True, slots=True)
class Store:
    """A store with a fixed id (encoding its city) and fixed coordinates."""

    store_id: str
    city: City
    latitude: float
    longitude: float


CITIES: Final[tuple[City, ...]] = (
    City("SAO", "São Paulo", -23.5505, -46.6333, "America/Sao_Paulo", 21.0, 40),
    City("RIO", "Rio de Janeiro", -22.9068, -43.1729, "America/Sao_Paulo", 13.0, 30),
    City("BHZ", "Belo Horizonte", -19.9167, -43.9345, "America/Sao_Paulo", 6.0, 16),
    City("BSB", "Brasília", -15.7939, -47.8828, "America/Sao_Paulo", 4.8, 12),
    City("SSA", "Salvador", -12.9777, -38.5016, "America/Bahia", 4.0, 12),
    City("FOR", "Fortaleza", -3.7319, -38.5267, "America/Fortaleza", 4.1, 12),
    City("REC", "Recife", -8.0476, -34.8770, "America/Recife", 4.0, 12),
    City("POA", "Porto Alegre", -30.0346, -51.2177, "America/Sao_Paulo", 4.4, 12),
    City("CWB", "Curitiba", -25.4284, -49.2733, "America/Sao_Paulo", 3.7, 12),
    City("MAO", "Manaus", -3.1190, -60.0217, "America/Manaus", 2.3, 10),
    City("BEL", "Belém", -1.4558, -48.4902, "America/Belem", 2.5, 10),
    City("GYN", "Goiânia", -16.6869, -49.2648, "America/Sao_Paulo", 2.6, 10),
)
_CITY_CUM_WEIGHTS: Final = tuple(sum(c.weight for c in CITIES[: i + 1]) for i in range(len(CITIES)))
_STORE_RADIUS_KM: Final = 6.0


def _store_km(a: Store, b: Store) -> float:
    return haversine_km(a.latitude, a.longitude, b.latitude, b.longitude)


def _city_km(a: City, b: City) -> float:
    return haversine_km(a.latitude, a.longitude, b.latitude, b.longitude)


def _build_stores(rng: random.Random) -> dict[str, tuple[Store, ...]]:
    """Stores scattered uniformly in a disc of a few km around each city centre."""
    stores: dict[str, tuple[Store, ...]] = {}
    for city in CITIES:
        city_stores = []
        for n in range(1, city.n_stores + 1):
            r = _STORE_RADIUS_KM * math.sqrt(rng.random())
            bearing = rng.uniform(0.0, 2 * math.pi)
            dlat = r * math.cos(bearing) / 111.32
            dlon = r * math.sin(bearing) / (111.32 * math.cos(math.radians(city.latitude)))
            city_stores.append(
                Store(
                    f"S-{city.code}-{n:03d}",
                    city,
                    round(city.latitude + dlat, 5),
                    round(city.longitude + dlon, 5),
                )
            )
        stores[city.code] = tuple(city_stores)
    return stores


class _Clock:
    """Maps (time zone, day offset, seconds into local day) to a UTC epoch."""

    def __init__(self, start: date) -> None:
        self._start = start
        self._midnights: dict[tuple[str, int], int] = {}

    def epoch(self, tz: str, day: int, seconds: float) -> int:
        key = (tz, day)
        midnight = self._midnights.get(key)
        if midnight is None:
            local = datetime.combine(self._start + timedelta(days=day), time(0), ZoneInfo(tz))
            midnight = int(local.timestamp())
            self._midnights[key] = midnight
        return midnight + int(seconds)


# ------------------------------------------------------------------------ customers


@dataclass(slots=True)
class _Txn:
    epoch: int
    store: Store
    amount_cents: int
    pattern: FraudPattern | None
    located: bool
    payment_method: str
    product_id: str | None


@dataclass(slots=True)
class _Customer:
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
    blacklisted: bool = False
    txns: list[_Txn] = field(default_factory=list)  # sorted by epoch
    times: list[int] = field(default_factory=list)  # epochs of ``txns``
    legit_times: list[int] = field(default_factory=list)  # the original timeline

    def insert(self, txn: _Txn) -> None:
        i = bisect.bisect_right(self.times, txn.epoch)
        self.times.insert(i, txn.epoch)
        self.txns.insert(i, txn)


def _weighted_city(rng: random.Random) -> City:
    return rng.choices(CITIES, cum_weights=_CITY_CUM_WEIGHTS)[0]


def _bounded_lognormal(
    rng: random.Random, median: float, sigma: float, lo: float, hi: float
) -> float:
    while True:
        value = median * math.exp(rng.gauss(0.0, sigma))
        if lo <= value <= hi:
            return value


def _make_customer(
    rng: random.Random, index: int, home: City, open_stores: dict[str, tuple[Store, ...]]
) -> _Customer:
    usual = tuple(rng.sample(open_stores[home.code], rng.randint(2, 4)))
    # The first favourite store gets most visits, like a neighbourhood shop.
    weights = [1.0 / (rank + 1) for rank in range(len(usual))]
    return _Customer(
        index=index,
        customer_id=f"C{index + 1:06d}",
        home=home,
        usual_stores=usual,
        usual_cum_weights=tuple(sum(weights[: i + 1]) for i in range(len(weights))),
        mean_amount=_bounded_lognormal(rng, 100.0, 0.65, 30.0, 400.0),
        amount_sigma=rng.uniform(0.25, 0.4),
        peak_hour=rng.uniform(8.0, 21.0),
        hour_std=rng.uniform(1.0, 2.5),
        rate_per_day=math.exp(rng.uniform(math.log(0.3), math.log(2.0))),
    )


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: fine for the small rates used here.
    threshold, k, p = math.exp(-lam), 0, rng.random()
    while p > threshold:
        k += 1
        p *= rng.random()
    return k


def _habit_seconds(rng: random.Random, customer: _Customer) -> float:
    """Seconds after local midnight (may spill into the neighbouring day)."""
    limit = _HOUR_TRUNCATION_STD * customer.hour_std
    while True:
        deviation = rng.gauss(0.0, customer.hour_std)
        if abs(deviation) <= limit:
            return (customer.peak_hour + deviation) * _HOUR


def _habit_amount_cents(rng: random.Random, customer: _Customer) -> int:
    sigma = customer.amount_sigma
    lo, hi = _AMOUNT_FACTOR_RANGE
    # Mean-preserving log-normal factor, clipped to keep legit spending moderate.
    factor = min(hi, max(lo, math.exp(rng.gauss(-sigma * sigma / 2, sigma))))
    return max(100, round(customer.mean_amount * factor * 100))


def _habit_store(
    rng: random.Random, customer: _Customer, open_stores: dict[str, tuple[Store, ...]]
) -> Store:
    if rng.random() < _USUAL_STORE_SHARE:
        return rng.choices(customer.usual_stores, cum_weights=customer.usual_cum_weights)[0]
    return rng.choice(open_stores[customer.home.code])


def _plausible_move(prev_epoch: int, prev: Store, epoch: int, store: Store) -> bool:
    km = _store_km(prev, store)
    if km <= _LOCAL_RADIUS_KM:
        return True
    hours = (epoch - prev_epoch) / _HOUR
    return hours > 0 and km / hours <= _LEGIT_MAX_SPEED_KMH


def _legit_timeline(
    rng: random.Random,
    customer: _Customer,
    days: int,
    clock: _Clock,
    open_stores: dict[str, tuple[Store, ...]],
) -> None:
    trip_city, trip_days = _plan_trip(rng, customer, days)
    raw: list[tuple[int, Store]] = []
    for day in range(days):
        for _ in range(_poisson(rng, customer.rate_per_day)):
            epoch = clock.epoch(customer.home.tz, day, _habit_seconds(rng, customer))
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
            epoch = last_epoch + _MIN_LEGIT_GAP_S + rng.randrange(0, 10 * _MINUTE)
        if (
            last_epoch is not None
            and last_store is not None
            and not _plausible_move(last_epoch, last_store, epoch, store)
        ):
            continue  # still on the road: this purchase never happened
        customer.insert(_legit_txn(rng, customer, epoch, store))
        last_epoch, last_store = epoch, store
    customer.legit_times = list(customer.times)


def _plan_trip(rng: random.Random, customer: _Customer, days: int) -> tuple[City | None, range]:
    if days < 3 or rng.random() >= _TRIP_SHARE:
        return None, range(0)
    destination = customer.home
    while destination is customer.home:
        destination = _weighted_city(rng)
    first = rng.randrange(1, days - 1)
    return destination, range(first, min(days, first + rng.randint(2, 4)))


def _random_txn(
    rng: random.Random, epoch: int, store: Store, cents: int, pattern: FraudPattern | None
) -> _Txn:
    method = rng.choices(_PAYMENT_METHODS, cum_weights=_PAYMENT_CUM_WEIGHTS)[0]
    product = None if rng.random() < _NULL_PRODUCT_SHARE else f"P{rng.randint(1, 5000):05d}"
    located = rng.random() >= _NULL_COORDS_SHARE
    return _Txn(epoch, store, cents, pattern, located, method, product)


def _legit_txn(rng: random.Random, customer: _Customer, epoch: int, store: Store) -> _Txn:
    return _random_txn(rng, epoch, store, _habit_amount_cents(rng, customer), None)


# --------------------------------------------------------------------------- fraud


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
        customers: list[_Customer],
        clock: _Clock,
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

    def _pick_victim(self, eligible: Callable[[_Customer], bool]) -> _Customer | None:
        for _ in range(_PICK_ATTEMPTS):
            customer = self.customers[self.rng.randrange(len(self.customers))]
            if customer.index in self.victims or customer.blacklisted:
                continue
            if eligible(customer):
                return customer
        return None

    def _slot_free(self, customer: _Customer, start: int, end: int, margin: int) -> bool:
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

    def _habit_epoch(self, customer: _Customer) -> int:
        day = self.rng.randrange(self.days)
        return self.clock.epoch(customer.home.tz, day, _habit_seconds(self.rng, customer))

    def _usual_store(self, customer: _Customer) -> Store:
        return self.rng.choice(customer.usual_stores)

    def _cents(self, customer: _Customer, lo: float, hi: float) -> int:
        return round(customer.mean_amount * self.rng.uniform(lo, hi) * 100)

    def _probe_cents(self, customer: _Customer) -> int:
        """Card testers probe with small amounts: 2 BRL up to ~0.8x the mean (<= 120 BRL)."""
        ceiling = max(300, min(12_000, round(customer.mean_amount * 80)))
        return self.rng.randint(200, ceiling)

    def _commit(self, customer: _Customer, txns: Sequence[_Txn]) -> int:
        for txn in txns:
            customer.insert(txn)
        self.victims.add(customer.index)
        return len(txns)

    # -- patterns

    def blacklist_customers(self, target: int) -> list[_Customer]:
        """Blacklist customers until their events cover ``target`` (at least one)."""
        chosen: list[_Customer] = []
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
                txn = _random_txn(self.rng, t, store, cents, "blacklist")
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
                txn = _random_txn(self.rng, t, self._usual_store(customer), cents, "high_value")
                return self._commit(customer, [txn])
        return 0

    def unusual_hour(self) -> int:
        def daytime(c: _Customer) -> bool:
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
            t = self.clock.epoch(customer.home.tz, day, hour * _HOUR)
            if t <= customer.legit_times[_MIN_HISTORY - 1]:
                continue
            if self._slot_free(customer, t, t, _FRAUD_MARGIN_S):
                cents = self._cents(customer, 1.5, 4.0)
                txn = _random_txn(self.rng, t, self._usual_store(customer), cents, "unusual_hour")
                return self._commit(customer, [txn])
        return 0

    def velocity_burst(self) -> int:
        customer = self._pick_victim(lambda c: True)
        if customer is None:
            return 0
        rng = self.rng
        for _ in range(_SLOT_ATTEMPTS):
            # Card testers work at any hour of the day.
            t0 = self.clock.epoch(customer.home.tz, rng.randrange(self.days), rng.uniform(0, _DAY))
            if not self._slot_free(customer, t0, t0 + _BURST_SPAN_S, _BURST_MARGIN_S):
                continue
            size = rng.randint(8, 12)
            offsets = [0, *sorted(rng.sample(range(1, _BURST_SPAN_S + 1), size - 1))]
            stores = rng.sample(self.open_stores[customer.home.code], rng.randint(1, 3))
            burst = [
                _random_txn(
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
            far = [c for c in CITIES if _city_km(c, anchor.store.city) >= _FAR_CITY_KM]
            store = rng.choice(self.open_stores[rng.choice(far).code])
            t = anchor.epoch + rng.randint(10 * _MINUTE, 60 * _MINUTE)
            if not self._next_event_can_follow(customer, i, t, store):
                continue
            cents = self._cents(customer, 0.5, 2.5)
            txn = _random_txn(rng, t, store, cents, "impossible_travel")
            txn.located = True  # the whole point: the detector must see where it was
            return self._commit(customer, [txn])
        return 0

    def _next_event_can_follow(
        self, customer: _Customer, anchor_index: int, t: int, store: Store
    ) -> bool:
        """The anchor must be the last event before ``t``, and the customer's
        next event must be reachable from the fraud's store at legit speed, so
        only the fraud itself looks like impossible travel."""
        nxt = anchor_index + 1
        if nxt >= len(customer.txns):
            return True
        following = customer.txns[nxt]
        travel_s = _store_km(store, following.store) / _LEGIT_MAX_SPEED_KMH * _HOUR
        return following.epoch >= t + max(_FRAUD_MARGIN_S, travel_s)


@dataclass(frozen=True, slots=True)
class _FraudPlan:
    targets: dict[FraudPattern, int]

    @staticmethod
    def for_rate(n_legit: int, fraud_rate: float) -> _FraudPlan:
        if fraud_rate <= 0 or n_legit == 0:
            return _FraudPlan(dict.fromkeys(FRAUD_PATTERNS, 0))
        # fraud / (legit + fraud) == fraud_rate
        total = n_legit * fraud_rate / (1.0 - fraud_rate)
        return _FraudPlan({p: max(1, round(total * share)) for p, share in _PATTERN_SHARES.items()})


# ---------------------------------------------------------------------- rendering


class Label(TypedDict):
    """Ground truth of one valid event (a line of ``labels.jsonl``)."""

    transaction_id: str
    is_fraud: bool
    pattern: FraudPattern | None


@dataclass(frozen=True, slots=True)
class BlacklistEntry:
    """A row of ``blacklist.csv``."""

    kind: Literal["customer", "store"]
    id: str


def _transaction_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _format_cents(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _v1_timestamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, BUSINESS_TZ).strftime("%Y-%m-%dT%H:%M:%S")


def _v2_timestamp(rng: random.Random, epoch: int, store: Store) -> str:
    if rng.random() < _UTC_Z_SHARE:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return datetime.fromtimestamp(epoch, ZoneInfo(store.city.tz)).isoformat()


def _render(rng: random.Random, customer_id: str, txn: _Txn) -> tuple[dict[str, object], int]:
    """A valid event record and its schema version (1, 2 or 3)."""
    roll = rng.random()
    version = 1 if roll < _V1_SHARE else 3 if roll < _V1_SHARE + _V3_SHARE else 2
    record: dict[str, object] = {}
    if version > 1 or rng.random() < 0.5:  # legacy producers often omit the version
        record["schema_version"] = version
    record["transaction_id"] = _transaction_id(rng)
    record["customer_id"] = customer_id
    record["store_id"] = txn.store.store_id
    record["product_id"] = txn.product_id
    amount = _format_cents(txn.amount_cents)
    record["amount"] = float(amount) if rng.random() < _NUMERIC_AMOUNT_SHARE else amount
    record["currency"] = "BRL"
    record["payment_method"] = txn.payment_method
    if txn.located:
        record["latitude"] = round(
            txn.store.latitude + rng.uniform(-_GPS_NOISE_DEG, _GPS_NOISE_DEG), 6
        )
        record["longitude"] = round(
            txn.store.longitude + rng.uniform(-_GPS_NOISE_DEG, _GPS_NOISE_DEG), 6
        )
    else:
        record["latitude"] = record["longitude"] = None
    record["timestamp"] = (
        _v1_timestamp(txn.epoch) if version == 1 else _v2_timestamp(rng, txn.epoch, txn.store)
    )
    if version == 3:
        record["channel"] = rng.choice(_V3_CHANNELS)  # a field v2 consumers do not know
    return record, version


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _malformed(rng: random.Random, kind: str, record: dict[str, object], epoch: int) -> bytes:
    """Corrupt an otherwise valid v2 ``record`` (at ``epoch``) the way ``kind`` describes."""
    bad = dict(record)
    cents = round(float(str(record["amount"])) * 100)
    match kind:
        case "not_json":
            text = _dumps(record)
            return text[: len(text) // 2]  # a producer died mid-write
        case "json_array":
            return _dumps(list(record.values()))
        case "missing_customer_id":
            del bad["customer_id"]
        case "negative_amount":
            bad["amount"] = _format_cents(-cents)
        case "amount_3_decimals":
            bad["amount"] = f"{_format_cents(cents)}{rng.randint(1, 9)}"
        case "non_numeric_amount":
            bad["amount"] = _format_cents(cents).replace(".", ",")  # pt-BR decimal comma
        case "v2_timestamp_without_offset":
            bad["timestamp"] = _v1_timestamp(epoch)
        case "latitude_without_longitude":
            del bad["longitude"]
        case "latitude_out_of_range":
            bad["latitude"] = 123.0
        case "empty_transaction_id":
            bad["transaction_id"] = ""
        case "lowercase_currency":
            bad["currency"] = "brl"
        case "invalid_utf8":
            # A legacy producer wrote Latin-1 text into a UTF-8 stream.
            text = _dumps(bad)
            return text[:-1] + b',"merchant_name":"Padaria S\xe3o Jo\xe3o"}'
        case "schema_version_0":
            bad["schema_version"] = 0
        case "nan_amount":
            bad["amount"] = math.nan  # json.dumps writes the non-standard NaN
        case _:
            raise ValueError(f"unknown malformed kind: {kind}")
    return _dumps(bad)


def _delivery_lag_s(rng: random.Random) -> float:
    """Transport delay: mostly seconds, sometimes minutes (reorders neighbours)."""
    roll = rng.random()
    if roll < 0.80:
        return rng.uniform(0, 20)
    if roll < 0.97:
        return rng.uniform(20, 180)
    return rng.uniform(180, 600)


@dataclass(frozen=True, slots=True)
class _Line:
    delivery: float
    payload: bytes
    label: Label | None


# ------------------------------------------------------------------------- public


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    """Knobs of the generator; defaults give ~50k events over 30 days."""

    seed: int = 42
    customers: int = 2000
    days: int = 30
    start: date = date(2026, 10, 1)
    fraud_rate: float = 0.02
    malformed_rate: float = 0.005

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError("customers must be >= 1")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        if not 0.0 <= self.fraud_rate < 0.5:
            raise ValueError("fraud_rate must be in [0, 0.5)")
        if not 0.0 <= self.malformed_rate < 0.5:
            raise ValueError("malformed_rate must be in [0, 0.5)")


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


@dataclass(frozen=True, slots=True)
class DatasetPaths:
    """Where :func:`generate_dataset` wrote its files, plus the summary counts."""

    events: str
    labels: str
    blacklist: str
    counts: dict[str, int]


def generate_events(config: GeneratorConfig | None = None) -> SyntheticDataset:
    """Generate the whole dataset in memory; deterministic for ``config.seed``."""
    config = config or GeneratorConfig()
    rng = random.Random(config.seed)
    clock = _Clock(config.start)
    all_stores = _build_stores(rng)

    homes = [_weighted_city(rng) for _ in range(config.customers)]
    bad_stores = _pick_blacklisted_stores(rng, all_stores, homes)
    open_stores = {
        code: tuple(s for s in stores if s not in bad_stores) for code, stores in all_stores.items()
    }
    customers = [_make_customer(rng, i, home, open_stores) for i, home in enumerate(homes)]
    for customer in customers:
        _legit_timeline(rng, customer, config.days, clock, open_stores)

    plan = _FraudPlan.for_rate(sum(len(c.txns) for c in customers), config.fraud_rate)
    bad_customers = _inject_fraud(rng, customers, clock, open_stores, config.days, plan, bad_stores)

    valid = _render_valid(rng, customers)
    malformed = _render_malformed(rng, customers, config.malformed_rate, len(valid))
    ordered = sorted(valid + malformed, key=lambda line: line.delivery)  # stable: deterministic

    # With fraud disabled nobody is blacklisted (the stores simply stay unused).
    listed_stores = bad_stores if plan.targets["blacklist"] else ()
    blacklist = tuple(BlacklistEntry("customer", c.customer_id) for c in bad_customers) + tuple(
        BlacklistEntry("store", s.store_id) for s in listed_stores
    )
    labels = tuple(line.label for line in ordered if line.label is not None)
    counts = _count(labels, valid, malformed, blacklist)
    return SyntheticDataset(tuple(line.payload for line in ordered), labels, blacklist, counts)


def _pick_blacklisted_stores(
    rng: random.Random, stores: dict[str, tuple[Store, ...]], homes: list[City]
) -> tuple[Store, ...]:
    """One or two stores in cities where customers live (so someone can shop there)."""
    picked: list[Store] = []
    for _ in range(1 if len(homes) < 1000 else 2):
        city = rng.choice(homes)
        candidates = [s for s in stores[city.code] if s not in picked]
        picked.append(rng.choice(candidates))
    return tuple(sorted(picked, key=lambda s: s.store_id))


def _inject_fraud(
    rng: random.Random,
    customers: list[_Customer],
    clock: _Clock,
    open_stores: dict[str, tuple[Store, ...]],
    days: int,
    plan: _FraudPlan,
    bad_stores: tuple[Store, ...],
) -> list[_Customer]:
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


def _render_valid(rng: random.Random, customers: list[_Customer]) -> list[_Line]:
    lines: list[_Line] = []
    for customer in customers:
        for txn in customer.txns:
            record, _ = _render(rng, customer.customer_id, txn)
            label: Label = {
                "transaction_id": str(record["transaction_id"]),
                "is_fraud": txn.pattern is not None,
                "pattern": txn.pattern,
            }
            lines.append(_Line(txn.epoch + _delivery_lag_s(rng), _dumps(record), label))
    return lines


def _render_malformed(
    rng: random.Random, customers: list[_Customer], malformed_rate: float, n_valid: int
) -> list[_Line]:
    """``malformed_rate * n_valid`` extra lines, cycling through every kind."""
    n = round(n_valid * malformed_rate)
    active = [c for c in customers if c.txns]
    if n == 0 or not active:
        return []
    kinds = list(MALFORMED_KINDS)
    rng.shuffle(kinds)
    lines: list[_Line] = []
    for k in range(n):
        customer = rng.choice(active)
        base = rng.choice(customer.txns)
        txn = _Txn(
            base.epoch + rng.randint(-_HOUR, _HOUR),
            base.store,
            base.amount_cents,
            None,
            True,
            base.payment_method,
            base.product_id,
        )
        record = _v2_record(rng, customer.customer_id, txn)
        payload = _malformed(rng, kinds[k % len(kinds)], record, txn.epoch)
        lines.append(_Line(txn.epoch + _delivery_lag_s(rng), payload, None))
    return lines


def _v2_record(rng: random.Random, customer_id: str, txn: _Txn) -> dict[str, object]:
    while True:
        record, version = _render(rng, customer_id, txn)
        if version == 2:
            return record


def _count(
    labels: tuple[Label, ...],
    valid: list[_Line],
    malformed: list[_Line],
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


def write_dataset(dataset: SyntheticDataset, output_dir: str) -> DatasetPaths:
    """Write ``events.jsonl``, ``labels.jsonl`` and ``blacklist.csv`` into ``output_dir``."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    events, labels, blacklist = out / "events.jsonl", out / "labels.jsonl", out / "blacklist.csv"
    # Binary mode: some malformed lines are deliberately not valid UTF-8.
    events.write_bytes(b"".join(line + b"\n" for line in dataset.lines))
    labels.write_bytes(b"".join(_dumps(label) + b"\n" for label in dataset.labels))
    rows = [f"{entry.kind},{entry.id}\n" for entry in dataset.blacklist]
    blacklist.write_bytes(("kind,id\n" + "".join(rows)).encode())
    return DatasetPaths(str(events), str(labels), str(blacklist), dict(dataset.counts))


def generate_dataset(
    output_dir: str,
    *,
    seed: int = 42,
    customers: int = 2000,
    days: int = 30,
    start: date = date(2026, 10, 1),
    fraud_rate: float = 0.02,
    malformed_rate: float = 0.005,
) -> DatasetPaths:
    """Generate the dataset for these parameters and write it to ``output_dir``."""
    config = GeneratorConfig(seed, customers, days, start, fraud_rate, malformed_rate)
    return write_dataset(generate_events(config), output_dir)
