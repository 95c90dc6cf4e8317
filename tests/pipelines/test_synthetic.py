"""Tests for the synthetic transaction generator.

The checks mirror how the fraud rules will consume the data: legitimate
behaviour must not trip the velocity/travel rules, and every injected pattern
must really have the shape its rule looks for.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pipelines.generate import main
from pipelines.synthetic import (
    BUSINESS_TZ,
    CITIES,
    FRAUD_PATTERNS,
    MALFORMED_KINDS,
    GeneratorConfig,
    SyntheticDataset,
    generate_dataset,
    generate_events,
)
from pipelines.synthetic.handbook import COMPROMISE_DAYS, LEAK_AMOUNT_FACTOR
from pipelines.synthetic.labels import HANDBOOK_PATTERNS, RULE_SHAPED_PATTERNS
from transforms.domain.event_time import (
    DEFAULT_BUSINESS_TIMEZONE,
    business_timezone,
    format_utc,
)
from transforms.domain.events import Transaction, parse_event
from transforms.domain.feedback import Feedback, parse_feedback
from transforms.domain.geo import haversine_km

SMALL = GeneratorConfig(seed=7, customers=200, days=10)
CITY_TZ = {city.code: ZoneInfo(city.tz) for city in CITIES}


# ------------------------------------------------------------ contract helpers


def _amount_ok(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return False
    if isinstance(value, str) and amount.as_tuple().exponent != -2:
        return False  # strings carry exactly two decimals
    return amount > 0 and int(amount.as_tuple().exponent) >= -2


def _timestamp_ok(value: Any, version: int) -> bool:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return (parsed.tzinfo is None) == (version == 1)


def _coords_ok(event: dict[str, Any]) -> bool:
    if "latitude" not in event or "longitude" not in event:
        return False
    lat, lon = event["latitude"], event["longitude"]
    if lat is None and lon is None:
        return True
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return False
    return -90 <= lat <= 90 and -180 <= lon <= 180


def parse_valid(raw: bytes) -> dict[str, Any] | None:
    """A strict reading of the event contract: the event, or None if malformed."""
    try:
        event = json.loads(raw.decode("utf-8"), parse_constant=lambda _: math.nan)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(event, dict):
        return None
    version = event.get("schema_version", 1)
    checks = (
        isinstance(version, int) and version >= 1,
        isinstance(event.get("transaction_id"), str) and event["transaction_id"] != "",
        isinstance(event.get("customer_id"), str) and event["customer_id"] != "",
        isinstance(event.get("store_id"), str),
        _amount_ok(event.get("amount")),
        event.get("currency") == "BRL",
        event.get("payment_method") in {"credit_card", "debit_card", "pix", "boleto"},
        _coords_ok(event),
        _timestamp_ok(event.get("timestamp"), version),
    )
    return event if all(checks) else None


def epoch_of(event: dict[str, Any]) -> float:
    parsed = datetime.fromisoformat(event["timestamp"])
    if parsed.tzinfo is None:  # v1: naive business time
        parsed = parsed.replace(tzinfo=BUSINESS_TZ)
    return parsed.timestamp()


def labelled_events(dataset: SyntheticDataset) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(event, label) pairs of the valid lines, in file order."""
    valid = [event for event in map(parse_valid, dataset.lines) if event is not None]
    return [(event, dict(label)) for event, label in zip(valid, dataset.labels, strict=True)]


def by_customer(
    pairs: list[tuple[dict[str, Any], dict[str, Any]]],
) -> dict[str, list[tuple[float, dict[str, Any], dict[str, Any]]]]:
    """Per customer, (epoch, event, label) sorted by event time."""
    grouped: dict[str, list[tuple[float, dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for event, label in pairs:
        grouped[event["customer_id"]].append((epoch_of(event), event, label))
    for timeline in grouped.values():
        timeline.sort(key=lambda item: item[0])
    return grouped


@pytest.fixture(scope="module")
def dataset() -> SyntheticDataset:
    return generate_events(SMALL)


@pytest.fixture(scope="module")
def pairs(dataset: SyntheticDataset) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return labelled_events(dataset)


@pytest.fixture(scope="module")
def timelines(
    pairs: list[tuple[dict[str, Any], dict[str, Any]]],
) -> dict[str, list[tuple[float, dict[str, Any], dict[str, Any]]]]:
    return by_customer(pairs)


# ---------------------------------------------------------------- determinism


def _write(tmp_path: Path, name: str, seed: int) -> dict[str, bytes]:
    paths = generate_dataset(
        str(tmp_path / name), seed=seed, customers=SMALL.customers, days=SMALL.days
    )
    return {
        kind: Path(path).read_bytes()
        for kind, path in (
            ("events", paths.events),
            ("labels", paths.labels),
            ("blacklist", paths.blacklist),
        )
    }


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    assert _write(tmp_path, "a", seed=7) == _write(tmp_path, "b", seed=7)


def test_different_seed_gives_different_files(tmp_path: Path) -> None:
    first, second = _write(tmp_path, "a", seed=7), _write(tmp_path, "b", seed=8)
    assert first["events"] != second["events"]
    assert first["labels"] != second["labels"]


def test_files_on_disk_match_the_in_memory_dataset(tmp_path: Path) -> None:
    files = _write(tmp_path, "a", seed=SMALL.seed)
    data = generate_events(SMALL)
    assert files["events"] == b"".join(line + b"\n" for line in data.lines)
    labels = [json.loads(line) for line in files["labels"].splitlines()]
    assert labels == [dict(label) for label in data.labels]
    rows = files["blacklist"].decode().splitlines()
    assert rows[0] == "kind,id"
    assert rows[1:] == [f"{entry.kind},{entry.id}" for entry in data.blacklist]


# ------------------------------------------------------------- labels & lines


def test_labels_cover_exactly_the_valid_events(dataset: SyntheticDataset) -> None:
    valid_ids = [event["transaction_id"] for event in map(parse_valid, dataset.lines) if event]
    label_ids = [label["transaction_id"] for label in dataset.labels]
    assert valid_ids == label_ids
    assert len(set(label_ids)) == len(label_ids)
    assert len(dataset.lines) - len(valid_ids) == dataset.counts["malformed"] > 0
    assert all(label["is_fraud"] == (label["pattern"] is not None) for label in dataset.labels)


def test_labels_never_leak_into_events(pairs: list[tuple[dict[str, Any], Any]]) -> None:
    assert not any({"is_fraud", "pattern", "label"} & event.keys() for event, _ in pairs)


def test_every_pattern_appears_at_roughly_the_fraud_rate(dataset: SyntheticDataset) -> None:
    patterns = {label["pattern"] for label in dataset.labels}
    assert patterns - {None} == set(RULE_SHAPED_PATTERNS)
    fraud_share = dataset.counts["fraud"] / dataset.counts["valid"]
    assert 0.01 <= fraud_share <= 0.04
    assert sum(dataset.counts[p] for p in FRAUD_PATTERNS) == dataset.counts["fraud"]


def test_default_size_is_a_realistic_volume() -> None:
    counts = generate_events(GeneratorConfig(customers=400)).counts
    # ~1/5 of the default customer base: the default lands around 40-60k events.
    assert 8_000 <= counts["events"] <= 12_000


def test_schema_versions_mix_v1_v2_and_forward_compatible_v3(
    pairs: list[tuple[dict[str, Any], Any]],
) -> None:
    versions = [event.get("schema_version", 1) for event, _ in pairs]
    v1_share = versions.count(1) / len(versions)
    assert 0.25 <= v1_share <= 0.35
    assert versions.count(2) / len(versions) >= 0.6
    v3 = [event for event, _ in pairs if event.get("schema_version") == 3]
    assert v3
    assert all("channel" in event for event in v3)
    assert any("schema_version" not in event for event, _ in pairs)


def test_amounts_and_coordinates_vary_like_real_producers(
    pairs: list[tuple[dict[str, Any], Any]],
) -> None:
    numeric = sum(isinstance(event["amount"], float) for event, _ in pairs) / len(pairs)
    assert 0.1 <= numeric <= 0.3
    assert any(event["latitude"] is None for event, _ in pairs)
    assert any(event["timestamp"].endswith("Z") for event, _ in pairs)
    assert any(event["timestamp"].endswith("-03:00") for event, _ in pairs)


def test_every_malformed_kind_is_rejected_by_the_contract() -> None:
    data = generate_events(GeneratorConfig(seed=3, customers=200, days=10, malformed_rate=0.03))
    rejected = [line for line in data.lines if parse_valid(line) is None]
    assert len(rejected) == data.counts["malformed"] >= len(MALFORMED_KINDS)

    def fails_to_decode(line: bytes) -> bool:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False

    assert any(fails_to_decode(line) for line in rejected)
    assert any(line.startswith(b"[") for line in rejected)
    assert any(b"NaN" in line for line in rejected)


def test_file_is_not_sorted_by_event_time(pairs: list[tuple[dict[str, Any], Any]]) -> None:
    epochs = [epoch_of(event) for event, _ in pairs]
    assert epochs != sorted(epochs)
    # ...but only locally: delivery lag stays within ten minutes.
    running_max = -math.inf
    for epoch in epochs:
        assert epoch >= running_max - 600
        running_max = max(running_max, epoch)


# ---------------------------------------------------------- legit behaviour


def test_legit_customers_never_exceed_five_events_in_ten_minutes(
    timelines: dict[str, list[tuple[float, dict[str, Any], dict[str, Any]]]],
) -> None:
    for timeline in timelines.values():
        legit = [epoch for epoch, _, label in timeline if not label["is_fraud"]]
        for i, epoch in enumerate(legit):
            in_window = [t for t in legit[: i + 1] if epoch - t <= 600]
            assert len(in_window) <= 5
        gaps = [b - a for a, b in pairwise(legit)]
        assert all(gap >= 300 for gap in gaps)


def test_legit_travel_is_physically_possible(
    timelines: dict[str, list[tuple[float, dict[str, Any], dict[str, Any]]]],
) -> None:
    for timeline in timelines.values():
        located = [
            (epoch, event)
            for epoch, event, label in timeline
            if not label["is_fraud"] and event["latitude"] is not None
        ]
        for (t1, a), (t2, b) in pairwise(located):
            km = haversine_km(a["latitude"], a["longitude"], b["latitude"], b["longitude"])
            if km > 50:
                assert km / ((t2 - t1) / 3600) <= 500


def test_some_legit_customers_travel_between_cities() -> None:
    data = generate_events(GeneratorConfig(seed=11, customers=400, days=10))
    cities: dict[str, set[str]] = defaultdict(set)
    for event, label in labelled_events(data):
        if not label["is_fraud"]:
            cities[event["customer_id"]].add(event["store_id"][2:5])
    assert any(len(seen) > 1 for seen in cities.values())


# ------------------------------------------------------------- fraud shapes


def _pattern_events(
    timelines: dict[str, list[tuple[float, dict[str, Any], dict[str, Any]]]], pattern: str
) -> list[tuple[str, int]]:
    """(customer, index in its timeline) of every event with ``pattern``."""
    return [
        (customer, i)
        for customer, timeline in timelines.items()
        for i, (_, _, label) in enumerate(timeline)
        if label["pattern"] == pattern
    ]


def test_velocity_bursts_have_at_least_eight_events_within_two_minutes(
    timelines: dict[str, list[tuple[float, dict[str, Any], dict[str, Any]]]],
) -> None:
    bursts: list[list[float]] = []
    for timeline in timelines.values():
        epochs = [epoch for epoch, _, label in timeline if label["pattern"] == "velocity_burst"]
        for i, epoch in enumerate(epochs):
            # Bursts of one customer are far apart; consecutive epochs are one burst.
            if i and epoch - epochs[i - 1] < 600:
                bursts[-1].append(epoch)
            else:
                bursts.append([epoch])
    assert bursts
    for burst in bursts:
        assert len(burst) >= 8
        assert burst[-1] - burst[0] <= 120


@pytest.mark.parametrize("pattern", ["high_value", "unusual_hour"])
def test_history_based_fraud_follows_six_legit_events(
    timelines: dict[str, list[tuple[float, dict[str, Any], dict[str, Any]]]], pattern: str
) -> None:
    hits = _pattern_events(timelines, pattern)
    assert hits
    for customer, i in hits:
        legit = [event for _, event, label in timelines[customer][:i] if not label["is_fraud"]]
        assert len(legit) >= 6
        if pattern == "high_value":
            mean = sum(float(event["amount"]) for event in legit) / len(legit)
            assert float(timelines[customer][i][1]["amount"]) > 3 * mean


def test_unusual_hour_is_at_night_local_time(
    timelines: dict[str, list[tuple[float, dict[str, Any], dict[str, Any]]]],
) -> None:
    for customer, i in _pattern_events(timelines, "unusual_hour"):
        epoch, event, _ = timelines[customer][i]
        local = datetime.fromtimestamp(epoch, CITY_TZ[event["store_id"][2:5]])
        assert 1 <= local.hour <= 4


def test_impossible_travel_is_far_and_fast(
    timelines: dict[str, list[tuple[float, dict[str, Any], dict[str, Any]]]],
) -> None:
    hits = _pattern_events(timelines, "impossible_travel")
    assert hits
    for customer, i in hits:
        epoch, event, _ = timelines[customer][i]
        assert event["latitude"] is not None
        prev_epoch, prev, _ = timelines[customer][i - 1]
        assert prev["latitude"] is not None
        km = haversine_km(
            prev["latitude"], prev["longitude"], event["latitude"], event["longitude"]
        )
        assert km >= 750
        assert 10 * 60 <= epoch - prev_epoch <= 60 * 60


def test_blacklist_labels_match_blacklist_entries(
    dataset: SyntheticDataset, pairs: list[tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    customers = {e.id for e in dataset.blacklist if e.kind == "customer"}
    stores = {e.id for e in dataset.blacklist if e.kind == "store"}
    assert customers
    assert stores
    for event, label in pairs:
        listed = event["customer_id"] in customers or event["store_id"] in stores
        assert listed == (label["pattern"] == "blacklist")
    assert any(event["store_id"] in stores for event, _ in pairs)


def test_zero_fraud_rate_gives_only_legit_events() -> None:
    data = generate_events(GeneratorConfig(seed=5, customers=50, days=5, fraud_rate=0.0))
    assert data.counts["fraud"] == 0
    assert not any(label["is_fraud"] for label in data.labels)
    assert data.blacklist == ()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"customers": 0},
        {"days": 0},
        {"fraud_rate": -0.1},
        {"malformed_rate": 0.9},
        {"world": "fantasy"},
    ],
)
def test_invalid_config_is_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        GeneratorConfig(**kwargs)


# ---------------------------------------------------------------------- CLI


def test_cli_writes_files_and_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["--output_dir", str(out), "--seed", "7", "--customers", "200", "--days", "10"]
    assert main([*argv, "--start", "2026-10-01"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {**generate_events(SMALL).counts, "feedback": summary["fraud"]}
    assert {p.name for p in out.iterdir()} == {
        "events.jsonl",
        "labels.jsonl",
        "blacklist.csv",
        "feedback.jsonl",
    }
    assert summary["events"] == len((out / "events.jsonl").read_bytes().splitlines())


def test_cli_archives_every_line_under_its_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, archive = tmp_path / "out", tmp_path / "archive"
    argv = ["--output_dir", str(out), "--customers", "50", "--days", "4"]
    assert main([*argv, "--malformed_rate", "0.05", "--archive_dir", str(archive)]) == 0
    summary = json.loads(capsys.readouterr().out)
    folders = sorted(archive.iterdir())
    assert summary["archived_days"] == len(folders) >= 4
    assert all(folder.name.startswith("date=2026-10-") for folder in folders)
    archived = [line for f in folders for line in (f / "events.jsonl").read_bytes().splitlines()]
    assert sorted(archived) == sorted((out / "events.jsonl").read_bytes().splitlines())
    zone = business_timezone(DEFAULT_BUSINESS_TIMEZONE)
    for folder in folders:  # a readable line sits under the UTC day of its event time
        for line in (folder / "events.jsonl").read_bytes().splitlines():
            event = parse_event(line, zone)
            if isinstance(event, Transaction):
                assert format_utc(event.event_time_ms)[:10] == folder.name.removeprefix("date=")


def test_every_fraud_is_reported_after_the_delay_as_valid_feedback(tmp_path: Path) -> None:
    paths = generate_dataset(str(tmp_path), seed=4, customers=120, days=8, malformed_rate=0.02)
    zone = business_timezone(DEFAULT_BUSINESS_TIMEZONE)
    events = {}
    for line in Path(paths.events).read_bytes().splitlines():
        event = parse_event(line, zone)
        if isinstance(event, Transaction):
            events[event.transaction_id] = event
    labels = [json.loads(line) for line in Path(paths.labels).read_text().splitlines()]
    reports = [parse_feedback(line) for line in Path(paths.feedback).read_bytes().splitlines()]
    assert all(isinstance(report, Feedback) for report in reports)
    fraud = {label["transaction_id"] for label in labels if label["is_fraud"]}
    assert {report.transaction_id for report in reports} == fraud  # type: ignore[union-attr]
    day_ms = 86_400_000
    for report in reports:
        assert isinstance(report, Feedback)
        event = events[report.transaction_id]
        assert (report.customer_id, report.store_id, report.label) == (
            event.customer_id,
            event.store_id,
            "fraud",
        )
        # 7 days by default, plus up to a day of jitter; the feed is in report order.
        assert 7 * day_ms <= report.reported_at_ms - event.event_time_ms < 8 * day_ms
    times = [report.reported_at_ms for report in reports]  # type: ignore[union-attr]
    assert times == sorted(times)
    assert paths.counts["feedback"] == len(fraud)


def test_cli_rejects_bad_values(tmp_path: Path) -> None:
    assert main(["--output_dir", str(tmp_path), "--days", "0"]) == 2


def test_start_date_moves_the_timeline() -> None:
    data = generate_events(GeneratorConfig(seed=1, customers=20, days=3, start=date(2027, 1, 5)))
    first = min(epoch_of(event) for event, _ in labelled_events(data))
    assert datetime.fromtimestamp(first, BUSINESS_TZ).date() >= date(2027, 1, 4)


# ------------------------------------------------------------ the handbook world

HANDBOOK = GeneratorConfig(seed=3, customers=600, days=30, world="handbook")


@pytest.fixture(scope="module")
def handbook_pairs() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return labelled_events(generate_events(HANDBOOK))


def test_the_handbook_world_adds_patterns_no_rule_names(
    handbook_pairs: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    patterns = {label["pattern"] for _, label in handbook_pairs} - {None}
    assert patterns == set(FRAUD_PATTERNS) == set(RULE_SHAPED_PATTERNS) | set(HANDBOOK_PATTERNS)
    counts = generate_events(HANDBOOK).counts
    assert counts["compromised_store"] > 100
    assert counts["leaked_card"] > 20
    assert sum(counts[p] for p in FRAUD_PATTERNS) == counts["fraud"]


def test_a_compromised_store_turns_every_purchase_of_its_window_to_fraud(
    handbook_pairs: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    by_store: dict[str, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
    for event, label in handbook_pairs:
        by_store[event["store_id"]].append((epoch_of(event), label))
    for store, visits in by_store.items():
        hit = [t for t, label in visits if label["pattern"] == "compromised_store"]
        if not hit:
            continue
        first, last = min(hit), max(hit)
        assert last - first < COMPROMISE_DAYS * 86_400, store
        # every other purchase inside the window is fraud of another pattern or none at all:
        # only purchases that were legitimate are turned, and all of them are
        inside = [label for t, label in visits if first <= t <= last]
        assert all(label["pattern"] is not None for label in inside), store


def test_leaked_cards_pay_inflated_amounts_after_the_leak(
    handbook_pairs: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    timelines = by_customer(handbook_pairs)
    leaked = {
        c
        for c, events in timelines.items()
        if any(label["pattern"] == "leaked_card" for _, _, label in events)
    }
    assert leaked
    ratios = []
    for customer in leaked:
        events = timelines[customer]
        own = [float(e["amount"]) for _, e, label in events if label["pattern"] is None]
        stolen = [float(e["amount"]) for _, e, label in events if label["pattern"] == "leaked_card"]
        if own and stolen:
            ratios.append(statistics.median(stolen) / statistics.median(own))
    # Five times what the customer would have paid: well above their own spending.
    assert statistics.median(ratios) > LEAK_AMOUNT_FACTOR / 2


def test_realistic_spending_is_heavy_tailed_and_spread_over_the_day() -> None:
    def spread(config: GeneratorConfig) -> tuple[float, float]:
        pairs = labelled_events(generate_events(config))
        legit = [e for e, label in pairs if label["pattern"] is None]
        ratios = []
        for events in by_customer([(e, {"pattern": None}) for e in legit]).values():
            amounts = sorted(float(e["amount"]) for _, e, _ in events)
            if len(amounts) >= 10:
                ratios.append(amounts[-1] / statistics.median(amounts))
        hours = [datetime.fromtimestamp(epoch_of(e), tz=ZoneInfo("UTC")).hour for e in legit]
        night = sum(1 for h in hours if 5 <= h <= 8) / len(hours)  # 02:00-05:59 in Brazil
        return statistics.median(ratios), night

    rules_tail, rules_night = spread(GeneratorConfig(seed=3, customers=300, days=30))
    real_tail, real_night = spread(
        GeneratorConfig(seed=3, customers=300, days=30, world="handbook")
    )
    assert real_tail > 2 * rules_tail
    assert real_night > rules_night
