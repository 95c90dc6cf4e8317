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

That is the default ``rules`` world. The ``handbook`` world
(``GeneratorConfig(world="handbook")``, ``pipelines.generate --world handbook``)
makes legitimate spending realistic instead (wide hour spreads with night
purchases, heavy-tailed amounts by category, more trips) and adds the fraud no
single rule names (``pipelines/synthetic/handbook.py``): ``compromised_store``
(every purchase at a store for 28 days) and ``leaked_card`` (a third of a
card's purchases for 14 days at five times the amount).

In the ``rules`` world, legitimate behaviour is shaped so that it does not trip the rules by
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

How the package is split
------------------------
``world`` (cities, stores, clock), ``customers`` (habits and legitimate timelines),
``fraud_patterns`` (injection into those timelines), ``labels`` (ground truth), ``rendering``
(valid events as delivered), ``malformed`` (corrupted lines), ``dataset`` (the whole set in
memory: :func:`generate_events`) and ``files`` (:func:`generate_dataset` writes
``events.jsonl``, ``labels.jsonl`` and ``blacklist.csv``). ``python -m pipelines.generate`` is
the command line.
"""

from pipelines.synthetic.dataset import (
    BlacklistEntry,
    GeneratorConfig,
    SyntheticDataset,
    generate_events,
)
from pipelines.synthetic.files import DatasetPaths, generate_dataset, write_dataset
from pipelines.synthetic.labels import FRAUD_PATTERNS, FraudPattern, Label
from pipelines.synthetic.malformed import MALFORMED_KINDS
from pipelines.synthetic.world import BUSINESS_TZ, CITIES, City, Store

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
