"""Per-store hourly counts over the 1-, 7- and 30-day windows (FR-007's evidence)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.domain.feedback import Feedback, FeedbackLabel
from transforms.domain.store_risk import (
    HOUR_MS,
    NO_STORE_RISK,
    WINDOW_DAYS,
    StoreActivity,
    StoreRisk,
    decode_store_activity,
    encode_store_activity,
    window_index,
)
from transforms.domain.verdicts import encode_verdicts

DAY_MS = 24 * HOUR_MS
T0 = 1_790_856_000_000  # 2026-10-01T12:00:00Z, on an hour boundary


_CONFIRMED = iter(range(10**9))


def confirm_fraud(activity: StoreActivity, at_ms: int) -> None:
    """A fraud on a transaction of its own, confirmed at ``at_ms``."""
    activity.learn_feedback(Feedback(f"tx-{next(_CONFIRMED)}", "C", "S", "fraud", at_ms))


def brute_force(records: list[tuple[int, str]], now_ms: int) -> StoreRisk:
    """The counts by definition: records in the hour of ``now`` and the 24 d - 1 before it."""
    hour = now_ms // HOUR_MS
    seen, frauds = [], []
    for days in WINDOW_DAYS:
        inside = [kind for time, kind in records if hour - 24 * days < time // HOUR_MS <= hour]
        seen.append(inside.count("transaction"))
        frauds.append(inside.count("fraud"))
    return StoreRisk(tuple(seen), tuple(frauds))


def test_an_unseen_store_has_no_counts() -> None:
    assert StoreActivity().risk(T0) == NO_STORE_RISK
    assert NO_STORE_RISK.rate(0) == 0.0


def test_windows_count_the_hour_of_the_event_and_the_hours_before() -> None:
    activity = StoreActivity()
    activity.add_transaction(T0 - 30 * DAY_MS)  # outside every window
    activity.add_transaction(T0 - 29 * DAY_MS)
    activity.add_transaction(T0 - 3 * DAY_MS)
    confirm_fraud(activity, T0 - 2 * DAY_MS)
    activity.add_transaction(T0 - HOUR_MS)
    activity.add_transaction(T0 + 10)  # the same hour as the event, before it

    risk = activity.risk(T0 + 59 * 60_000)

    assert risk == StoreRisk((2, 3, 4), (0, 1, 1))
    assert risk.rate(window_index(7)) == pytest.approx(1 / 3)


@given(
    st.lists(
        st.tuples(st.integers(0, 60 * 24), st.sampled_from(["transaction", "fraud"])),
        max_size=60,
    ),
    st.integers(0, 60 * 24),
)
def test_running_totals_match_the_definition_in_any_arrival_order(
    records: list[tuple[int, str]], now_hour: int
) -> None:
    timed = [(T0 + hour * HOUR_MS + 7, kind) for hour, kind in records]
    now = T0 + now_hour * HOUR_MS
    activity = StoreActivity()
    for time, kind in random.Random(len(records)).sample(timed, len(timed)):
        if kind == "transaction":
            activity.add_transaction(time)
        else:
            confirm_fraud(activity, time)
    newest = max((time for time, _ in timed), default=now)
    # Records older than every window of the newest one are dropped on arrival: compare only
    # at times whose windows cannot reach them.
    if now >= newest:
        assert activity.risk(now) == brute_force(timed, now)


def test_prune_forgets_hours_no_later_window_reaches_and_keeps_the_counts() -> None:
    activity = StoreActivity()
    for day in range(40):
        activity.add_transaction(T0 + day * DAY_MS)
    now = T0 + 39 * DAY_MS
    before = activity.risk(now)

    activity.prune(now)

    assert len(activity.hours) == 30
    assert activity.risk(now) == before == StoreRisk((1, 7, 30), (0, 0, 0))


def test_a_record_older_than_every_window_is_not_counted() -> None:
    activity = StoreActivity()
    activity.add_transaction(T0)
    confirm_fraud(activity, T0 - 31 * DAY_MS)

    assert activity.hours == [T0 // HOUR_MS]


def test_encoding_round_trips_with_pruned_totals_and_the_override() -> None:
    activity = StoreActivity(blacklisted=True, blacklisted_since_ms=T0 - DAY_MS)
    for day in range(35):
        activity.add_transaction(T0 + day * DAY_MS)
        confirm_fraud(activity, T0 + day * DAY_MS + HOUR_MS)
    activity.prune(T0 + 34 * DAY_MS)
    now = T0 + 34 * DAY_MS + 2 * HOUR_MS

    decoded = decode_store_activity(encode_store_activity(activity))

    assert decoded.risk(now) == activity.risk(now)
    assert decoded.blacklisted is True
    assert decoded.blacklisted_since_ms == T0 - DAY_MS
    assert encode_store_activity(decoded) == encode_store_activity(activity)


def test_an_empty_activity_encodes_in_eighteen_bytes() -> None:
    assert len(encode_store_activity(StoreActivity())) == 18
    assert StoreActivity().is_empty
    assert not StoreActivity(blacklisted=False).is_empty


@pytest.mark.parametrize("data", [b"", b"\x09\x00\x00\x00\x00\x00"])
def test_an_unknown_encoding_raises_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="version"):
        decode_store_activity(data)


def test_a_truncated_encoding_raises_value_error() -> None:
    activity = StoreActivity()
    activity.add_transaction(T0)
    activity.add_transaction(T0 + DAY_MS)

    with pytest.raises(ValueError, match="truncated"):
        decode_store_activity(encode_store_activity(activity)[:-20])


def test_only_the_configured_windows_exist() -> None:
    assert WINDOW_DAYS == (1, 7, 30)
    with pytest.raises(ValueError, match="not 2"):
        window_index(2)


def _report(transaction_id: str, at_ms: int, label: FeedbackLabel = "fraud") -> Feedback:
    return Feedback(transaction_id, "C", "S", label, at_ms)


def test_a_genuine_verdict_withdraws_a_confirmed_fraud_from_later_windows() -> None:
    activity = StoreActivity()
    activity.learn_feedback(_report("tx-1", T0))
    activity.learn_feedback(_report("tx-1", T0 + HOUR_MS))  # the same word again: no change
    assert activity.risk(T0 + 2 * HOUR_MS).frauds == (1, 1, 1)

    activity.learn_feedback(_report("tx-1", T0 + 3 * HOUR_MS, "genuine"))

    assert activity.risk(T0 + 4 * HOUR_MS).frauds == (0, 0, 0)
    activity.learn_feedback(_report("tx-1", T0 + 2 * HOUR_MS))  # older than the withdrawal
    assert activity.risk(T0 + 4 * HOUR_MS).frauds == (0, 0, 0)


def test_verdicts_round_trip_and_a_version_1_encoding_still_decodes() -> None:
    activity = StoreActivity()
    activity.add_transaction(T0)
    activity.learn_feedback(_report("tx-1", T0 + HOUR_MS))
    activity.learn_feedback(_report("tx-2", T0 + HOUR_MS, "genuine"))
    encoded = encode_store_activity(activity)

    assert decode_store_activity(encoded) == activity
    version_1 = bytes([1]) + encoded[1 : -len(encode_verdicts(activity.verdicts))]
    old = decode_store_activity(version_1)
    assert (old.hours, old.frauds, len(old.verdicts)) == (activity.hours, activity.frauds, 0)


def test_verdicts_older_than_every_window_are_forgotten_with_their_hours() -> None:
    activity = StoreActivity()
    activity.learn_feedback(_report("tx-1", T0))
    activity.prune(T0 + 31 * DAY_MS)

    assert len(activity.verdicts) == 0


def test_a_late_withdrawal_of_a_pruned_hour_still_encodes() -> None:
    activity = StoreActivity()
    activity.learn_feedback(_report("tx-1", T0))
    activity.learn_feedback(_report("tx-1", T0 + 20 * DAY_MS))  # again: the verdict stays
    activity.add_transaction(T0 + 29 * DAY_MS)
    activity.prune(T0 + 31 * DAY_MS)  # the fraud's hour is folded into the base
    activity.learn_feedback(_report("tx-1", T0 + 29 * DAY_MS, "genuine"))  # late

    decoded = decode_store_activity(encode_store_activity(activity))

    later = T0 + 31 * DAY_MS
    assert decoded.risk(later) == activity.risk(later)
    assert activity.risk(later).frauds == (0, 0, 0)
