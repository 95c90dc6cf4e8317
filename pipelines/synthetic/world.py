"""The simulated world: twelve Brazilian cities, their stores, and a clock in local time.

Stores have fixed ids (encoding their city) and fixed coordinates scattered a few km around the
city centre, so distances between them are real great-circle distances.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from transforms.domain.geo import haversine_km

# Legacy v1 producers stamp naive wall-clock time in the business time zone.
BUSINESS_TZ: Final = ZoneInfo("America/Sao_Paulo")
MINUTE: Final = 60
HOUR: Final = 3600
DAY: Final = 86_400


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


def store_km(a: Store, b: Store) -> float:
    return haversine_km(a.latitude, a.longitude, b.latitude, b.longitude)


def city_km(a: City, b: City) -> float:
    return haversine_km(a.latitude, a.longitude, b.latitude, b.longitude)


def weighted_city(rng: random.Random) -> City:
    return rng.choices(CITIES, cum_weights=_CITY_CUM_WEIGHTS)[0]


def build_stores(rng: random.Random) -> dict[str, tuple[Store, ...]]:
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


class Clock:
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
