"""Blacklisted customers and stores (FR-005), read from a small CSV file.

Format: a ``kind,id`` header, then one ``customer,<id>`` or ``store,<id>`` row per entry;
blank lines and lines starting with ``#`` are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple


class BlacklistHit(NamedTuple):
    """What the blacklist said about one event when it was checked."""

    customer: bool = False
    store: bool = False

    @property
    def any(self) -> bool:
        return self.customer or self.store


NO_HIT = BlacklistHit()


@dataclass(frozen=True, slots=True)
class Blacklist:
    customers: frozenset[str] = frozenset()
    stores: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.customers) + len(self.stores)

    def check(self, customer_id: str, store_id: str) -> BlacklistHit:
        return BlacklistHit(customer_id in self.customers, store_id in self.stores)


EMPTY_BLACKLIST = Blacklist()


def parse_blacklist_lines(lines: Iterable[str]) -> Blacklist:
    customers: set[str] = set()
    stores: set[str] = set()
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#") or text.replace(" ", "") == "kind,id":
            continue
        kind, _, entry_id = (part.strip() for part in text.partition(","))
        if kind == "customer" and entry_id:
            customers.add(entry_id)
        elif kind == "store" and entry_id:
            stores.add(entry_id)
        else:
            raise ValueError(f"blacklist line {number}: expected 'customer,<id>' or 'store,<id>'")
    return Blacklist(frozenset(customers), frozenset(stores))
