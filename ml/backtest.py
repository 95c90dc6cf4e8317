"""What a candidate would have done: two runs' scored records compared against the feedback.

``pipelines.backtest`` scores the same history twice (the champion as the live job scored it,
and the candidate), and this module reads both runs' ``scored-*.jsonl`` and measures them the
same way: alerts per day; precision and recall against the transactions confirmed fraud by the
feedback known now (``ml.supervised.confirmed_frauds``: the latest word on a transaction wins);
each rule's firings and the share of them on genuine transactions; the alerts gained and lost,
with examples; and the fraud cards (customers with a confirmed fraud) each version caught
first, earlier or later.

Recall counts the confirmed frauds among the range's scored transactions, so a fraud neither
version alerted on counts against both.
"""

from __future__ import annotations

import glob
import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from transforms.domain.event_time import parse_timestamp

EXAMPLES = 20


@dataclass(frozen=True, slots=True)
class ScoredRecord:
    """What the comparison needs of one scored transaction."""

    transaction_id: str
    customer_id: str
    event_time_ms: int
    day: str
    fraud_score: float
    is_alert: bool
    rules_triggered: tuple[str, ...]
    rules_version: str
    model_version: str | None


def read_scored(output_dir: str) -> dict[str, ScoredRecord]:
    """A run's scored records by transaction id; ``FileNotFoundError`` if it wrote none."""
    paths = sorted(glob.glob(os.path.join(output_dir, "scored-*.jsonl")))
    if not paths:
        raise FileNotFoundError(f"{output_dir}: no scored-*.jsonl (did the run fail?)")
    records: dict[str, ScoredRecord] = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                records[record["transaction_id"]] = ScoredRecord(
                    transaction_id=record["transaction_id"],
                    customer_id=record["customer_id"],
                    event_time_ms=parse_timestamp(record["event_time"], None),
                    day=record["event_time"][:10],
                    fraud_score=float(record["fraud_score"]),
                    is_alert=bool(record["is_alert"]),
                    rules_triggered=tuple(record["rules_triggered"]),
                    rules_version=record["rules_version"],
                    model_version=record.get("model_version"),
                )
    return records


def measure(records: dict[str, ScoredRecord], frauds: set[str]) -> dict[str, Any]:
    """One version's figures."""
    alerts = [r for r in records.values() if r.is_alert]
    true_alerts = sum(1 for r in alerts if r.transaction_id in frauds)
    in_range_frauds = sum(1 for tid in records if tid in frauds)
    firings: Counter[str] = Counter()
    on_genuine: Counter[str] = Counter()
    for record in records.values():
        for rule in record.rules_triggered:
            firings[rule] += 1
            if record.transaction_id not in frauds:
                on_genuine[rule] += 1
    rules_versions = Counter(r.rules_version for r in records.values())
    model_versions = Counter(r.model_version or "none" for r in records.values())
    return {
        # The version that scored most records; all of them, with their records, beside.
        "rules_version": rules_versions.most_common(1)[0][0] if records else None,
        "rules_versions": dict(sorted(rules_versions.items())),
        "model_version": model_versions.most_common(1)[0][0] if records else None,
        "model_versions": dict(sorted(model_versions.items())),
        "scored": len(records),
        "alerts": len(alerts),
        "alerts_per_day": dict(sorted(Counter(r.day for r in alerts).items())),
        "true_alerts": true_alerts,
        "confirmed_frauds": in_range_frauds,
        "precision": round(true_alerts / len(alerts), 4) if alerts else None,
        "recall": round(true_alerts / in_range_frauds, 4) if in_range_frauds else None,
        "by_rule": {
            rule: {
                "firings": firings[rule],
                "false_positive_rate": round(on_genuine[rule] / firings[rule], 4),
            }
            for rule in sorted(firings)
        },
    }


def _example(
    transaction_id: str,
    champion: dict[str, ScoredRecord],
    candidate: dict[str, ScoredRecord],
    frauds: set[str],
) -> dict[str, Any]:
    new, old = candidate[transaction_id], champion.get(transaction_id)
    return {
        "transaction_id": transaction_id,
        "customer_id": new.customer_id,
        "day": new.day,
        "confirmed_fraud": transaction_id in frauds,
        "champion_score": old.fraud_score if old else None,
        "candidate_score": new.fraud_score,
        "champion_rules": list(old.rules_triggered) if old else [],
        "candidate_rules": list(new.rules_triggered),
    }


def _difference(
    ids: Iterable[str],
    scored_by: dict[str, ScoredRecord],
    other: dict[str, ScoredRecord],
    frauds: set[str],
) -> dict[str, Any]:
    ordered = sorted(ids, key=lambda tid: (tid not in frauds, scored_by[tid].event_time_ms, tid))
    return {
        "alerts": len(ordered),
        "confirmed_frauds": sum(1 for tid in ordered if tid in frauds),
        "examples": [_example(tid, other, scored_by, frauds) for tid in ordered[:EXAMPLES]],
    }


def _first_caught(records: dict[str, ScoredRecord], frauds: set[str]) -> dict[str, int]:
    """Per fraud card, the time of its first alert on a confirmed fraud."""
    first: dict[str, int] = {}
    for record in records.values():
        if record.is_alert and record.transaction_id in frauds:
            known = first.get(record.customer_id)
            if known is None or record.event_time_ms < known:
                first[record.customer_id] = record.event_time_ms
    return first


def _cards(
    champion: dict[str, ScoredRecord], candidate: dict[str, ScoredRecord], frauds: set[str]
) -> dict[str, Any]:
    before, after = _first_caught(champion, frauds), _first_caught(candidate, frauds)
    earlier, later = [], []
    for card in sorted(set(before) | set(after)):
        old, new = before.get(card), after.get(card)
        if old == new:
            continue
        entry = {
            "customer_id": card,
            "champion_first_alert_ms": old,
            "candidate_first_alert_ms": new,
            "minutes": None if old is None or new is None else round((new - old) / 60_000, 1),
        }
        if old is None or (new is not None and new < old):
            earlier.append(entry)
        else:
            later.append(entry)
    return {
        "caught_earlier": len(earlier),
        "caught_later": len(later),
        "earlier": earlier[:EXAMPLES],
        "later": later[:EXAMPLES],
    }


def compare(
    champion: dict[str, ScoredRecord], candidate: dict[str, ScoredRecord], frauds: set[str]
) -> dict[str, Any]:
    """The report of a backtest: each version measured, what changed between them."""
    old_alerts = {tid for tid, r in champion.items() if r.is_alert}
    new_alerts = {tid for tid, r in candidate.items() if r.is_alert}
    return {
        "champion": measure(champion, frauds),
        "candidate": measure(candidate, frauds),
        "gained": _difference(new_alerts - old_alerts, candidate, champion, frauds),
        "lost": _difference(old_alerts - new_alerts, champion, candidate, frauds),
        "cards": _cards(champion, candidate, frauds),
    }
