"""ml.replay: per-customer event order and the features the detector computes on the way."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from ml.replay import blacklist_from_entries, replay
from pipelines.synthetic import BlacklistEntry
from tests.factories import RIO, SAO_PAULO, event, payload
from transforms.domain.blacklist import EMPTY_BLACKLIST, Blacklist
from transforms.domain.config import default_rules
from transforms.domain.event_time import business_timezone
from transforms.domain.features import FEATURE_NAMES
from transforms.domain.geo import haversine_km

ZONE = business_timezone("America/Sao_Paulo")
RULES = default_rules()
DAY = timedelta(days=1)


def stream() -> list[bytes]:
    """Two customers, delivered out of order, with an invalid line and a same-instant tie."""
    documents = [
        event("c1-3", "C1", at=2 * DAY, amount="150.00", where=RIO),
        event("c2-b", "C2", at=timedelta(hours=1), store_id="S-BAD"),
        event("c1-1", "C1", amount="50.00", where=SAO_PAULO),
        event("c2-a", "C2", at=timedelta(hours=1), store_id="S-BAD"),
        event("c1-2", "C1", at=DAY, amount="100.00", where=SAO_PAULO),
    ]
    lines = [payload(document) for document in documents]
    lines.insert(2, b'{"not": "an event"')
    return lines


BLACKLIST = Blacklist(stores=frozenset({"S-BAD"}))


def test_rows_are_sorted_by_customer_then_event_time_then_id() -> None:
    result = replay(stream(), BLACKLIST, RULES, ZONE)

    assert result.transaction_ids == ("c1-1", "c1-2", "c1-3", "c2-a", "c2-b")
    assert result.customer_ids == ("C1", "C1", "C1", "C2", "C2")
    assert result.invalid == 1
    assert len(result) == 5
    assert np.all(np.diff(result.event_time_ms[:3]) == 86_400_000)
    assert result.features.shape == (5, len(FEATURE_NAMES))
    assert result.features.dtype == np.float64


def test_features_read_the_history_before_each_event() -> None:
    features = replay(stream(), BLACKLIST, RULES, ZONE).features
    column = {name: features[:, i] for i, name in enumerate(FEATURE_NAMES)}

    # c1-1 has no history; c1-2 has one prior amount (50); c1-3 has 50 and 100.
    std_50_100 = math.sqrt(((50 - 75) ** 2 + (100 - 75) ** 2) / 1)
    assert column["amount_zscore"][:3] == pytest.approx([0.0, 0.0, 75 / std_50_100])
    assert column["amount_ratio"][:3] == pytest.approx([1.0, 2.0, 2.0])
    assert column["velocity_count"][:3].tolist() == [1.0, 1.0, 1.0]
    # Both earlier events were at the same local hour: no deviation to measure.
    assert column["time_deviation"][:3].tolist() == [0.0, 0.0, 0.0]
    kmh = haversine_km(*SAO_PAULO, *RIO) / 24.0
    assert column["geo_speed_kmh"][:3] == pytest.approx([0.0, 0.0, kmh])
    assert column["is_blacklisted"].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    # c2-b came at the same instant as c2-a: two events in the velocity window.
    assert column["velocity_count"][3:].tolist() == [1.0, 2.0]


def test_rule_scores_come_from_the_same_judgement() -> None:
    scores = replay(stream(), BLACKLIST, RULES, ZONE).rule_scores
    assert scores[:3].tolist() == [0.0, 0.0, 0.0]
    assert scores[3:].tolist() == [1.0, 1.0]  # FR-005 alerts on its own


def test_delivery_order_does_not_change_the_result() -> None:
    forward = replay(stream(), BLACKLIST, RULES, ZONE)
    backward = replay(list(reversed(stream())), BLACKLIST, RULES, ZONE)
    assert forward.transaction_ids == backward.transaction_ids
    np.testing.assert_array_equal(forward.features, backward.features)
    np.testing.assert_array_equal(forward.rule_scores, backward.rule_scores)


def test_no_valid_lines_give_an_empty_matrix() -> None:
    result = replay([b"[]", b"\xff"], EMPTY_BLACKLIST, RULES, ZONE)
    assert len(result) == 0
    assert result.invalid == 2
    assert result.features.shape == (0, len(FEATURE_NAMES))


def test_blacklist_from_generator_entries() -> None:
    entries = iter([BlacklistEntry("customer", "C9"), BlacklistEntry("store", "S1")])
    blacklist = blacklist_from_entries(entries)
    assert blacklist.customers == frozenset({"C9"})
    assert blacklist.stores == frozenset({"S1"})
