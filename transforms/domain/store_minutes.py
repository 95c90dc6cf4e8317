"""Real-time retail metrics per store and minute of event time: the pure-Python core.

A scored transaction contributes one transaction, its amount (under its payment method) and,
if it alerted, one alert to its store's minute; a dead letter of the events contributes one
dead letter to the minute and store its payload names, when it names them. Amounts are summed
in cents (integers): exact, and cheap to merge.

``transforms.realtime_metrics`` windows and combines the contributions in Beam; the bounded
recomputation here (``store_minutes``) is what the tests compare its final panes with.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from transforms.domain.dlq import dead_letter_event_time
from transforms.domain.event_time import format_utc, parse_timestamp

WINDOW_MS = 60_000
# A dead letter whose payload names no store (not JSON, no store_id) is counted under this.
UNKNOWN_STORE = "(unknown)"
# A transaction without a payment method is summed under this.
UNKNOWN_METHOD = "unknown"

# The accumulator: [transactions, amount in cents, alerts, dead letters, {method: cents}].
Minute = list[Any]


def empty_minute() -> Minute:
    return [0, 0, 0, 0, {}]


def cents(amount: str) -> int:
    """An amount as the scored record writes it (exact text, at most 2 decimals), in cents."""
    return int(Decimal(amount).scaleb(2))


def add_scored(minute: Minute, record: Mapping[str, Any]) -> Minute:
    amount = cents(record["amount"])
    minute[0] += 1
    minute[1] += amount
    minute[2] += 1 if record["is_alert"] else 0
    method = record.get("payment_method") or UNKNOWN_METHOD
    minute[4][method] = minute[4].get(method, 0) + amount
    return minute


def add_dead_letter(minute: Minute) -> Minute:
    minute[3] += 1
    return minute


def add_into(total: Minute, minute: Minute) -> Minute:
    """Adds ``minute`` to ``total``, in place (a combiner's accumulator takes every input)."""
    for index in range(4):
        total[index] += minute[index]
    by_method = total[4]
    for method, amount in minute[4].items():
        by_method[method] = by_method.get(method, 0) + amount
    return total


def merge(minutes: Iterable[Minute]) -> Minute:
    merged = empty_minute()
    for minute in minutes:
        add_into(merged, minute)
    return merged


def window_start_ms(event_time_ms: int) -> int:
    return event_time_ms - event_time_ms % WINDOW_MS


def dead_letter_place(dead_letter: Mapping[str, Any]) -> tuple[str, int | None]:
    """The store a dead letter's payload names (else ``UNKNOWN_STORE``), and its event time in
    epoch ms if the payload gives a usable one (else None: the caller places it by the
    record's own timestamp, its Kafka time in a live job)."""
    try:
        document = json.loads(dead_letter.get("raw_payload") or "")
    except (ValueError, RecursionError):
        return UNKNOWN_STORE, None
    if not isinstance(document, dict):
        return UNKNOWN_STORE, None
    store = document.get("store_id")
    store_id = store if isinstance(store, str) and store.strip() else UNKNOWN_STORE
    return store_id, dead_letter_event_time(document)


def _amount_text(amount_cents: int) -> str:
    return str(Decimal(amount_cents).scaleb(-2))


def minute_record(
    store_id: str, start_ms: int, minute: Minute, pane_index: int = 0, pane_timing: str = "UNKNOWN"
) -> dict[str, Any]:
    """The record published to ``metrics.realtime`` and upserted into
    ``silver.store_minute_metrics`` (key ``window_key``)."""
    window_start = format_utc(start_ms)
    return {
        "window_key": f"{store_id}|{window_start}",
        "store_id": store_id,
        "window_start": window_start,
        "window_end": format_utc(start_ms + WINDOW_MS),
        "transactions": minute[0],
        "amount": _amount_text(minute[1]),
        "alerts": minute[2],
        "dead_letters": minute[3],
        "amount_by_payment_method": {
            method: _amount_text(amount) for method, amount in sorted(minute[4].items())
        },
        "pane_index": pane_index,
        "pane_timing": pane_timing,
    }


# The fields that hold the window's value (not the pane that carried it), in the order of the
# warehouse table's columns.
VALUE_FIELDS = (
    "window_key",
    "store_id",
    "window_start",
    "window_end",
    "transactions",
    "amount",
    "alerts",
    "dead_letters",
    "amount_by_payment_method",
)


def latest_panes(panes: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The pane of each store minute a consumer keeps, as the warehouse does: the one holding
    the most contributions, then the highest index (after a restore from a checkpoint, the
    minute's last pane may carry a lower index than one published before the failure)."""
    latest: dict[str, Mapping[str, Any]] = {}
    for pane in panes:
        kept = latest.get(pane["window_key"])
        if kept is None or _fullness(pane) > _fullness(kept):
            latest[pane["window_key"]] = pane
    return latest


def _fullness(pane: Mapping[str, Any]) -> tuple[int, int]:
    return pane["transactions"] + pane["dead_letters"], pane["pane_index"]


def store_minutes(
    scored: Iterable[Mapping[str, Any]],
    dead_letters: Iterable[tuple[Mapping[str, Any], int | None]],
) -> dict[str, dict[str, Any]]:
    """Every store minute of a bounded input, by ``window_key``: the value the live job's last
    pane of each window must equal. ``dead_letters``: each with its record's own timestamp in
    epoch ms (None if it has none)."""
    minutes: dict[tuple[str, int], Minute] = {}
    for record in scored:
        start = window_start_ms(parse_timestamp(record["event_time"], None))
        add_scored(minutes.setdefault((record["store_id"], start), empty_minute()), record)
    for dead_letter, record_time_ms in dead_letters:
        store_id, event_time_ms = dead_letter_place(dead_letter)
        moment = event_time_ms if event_time_ms is not None else record_time_ms
        if moment is None:
            continue
        start = window_start_ms(moment)
        add_dead_letter(minutes.setdefault((store_id, start), empty_minute()))
    records = (minute_record(store, start, minute) for (store, start), minute in minutes.items())
    return {record["window_key"]: record for record in records}
