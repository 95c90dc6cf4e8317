"""Rules versions from the console: what is registered, how challengers fare, backtests of a
candidate, and its promotion (supervisors only).

A backtest is queued here and run by the console's worker (:mod:`console.backtests`). Promoting
a finished one registers its candidate as ``python -m pipelines.rules register`` does: checked
as the job will read it, effective no sooner than the grace from now, committed, published to
the rules topic, marked published. The registry row is the audit: who (``author``, the
supervisor), when (``registered_at``), what (the rules text and its version), from which
backtest (``backtest = 'console:<id>'``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from console.actions import ActionError, forbidden
from console.users import User
from pipelines.cli import CommandError
from pipelines.models import store as model_store
from pipelines.rules import store
from pipelines.rules.publish import publish_registration
from pipelines.rules.registration import checked_effective_from, grace, millis
from transforms.domain.config import RulesConfig, default_rules, rules_from_text
from transforms.domain.effective import CHAMPION, MAX_NOTE, ROLES
from transforms.domain.rules_registry import (
    MAX_RULES_TEXT,
    RulesChange,
    encode_rules_change,
    new_rules_change,
    parse_compatible_rules_change,
)

MAX_BACKTEST_DAYS = 31
MAX_LISTED_MODELS = 200
NO_BROKER = "the console has no Kafka to publish to: set STREAMFLOW_KAFKA_BOOTSTRAP"


def require_supervisor(user: User) -> None:
    if not user.may("supervisor"):
        raise forbidden("only a supervisor backtests and promotes rules versions")


def champion_base(held: psycopg.Connection) -> RulesConfig:
    """The rules a candidate is checked against: the latest published champion version."""
    latest = store.latest_champion(held)
    if latest is None:
        return default_rules()
    try:
        return rules_from_text(latest.rules_text)
    except ValueError:
        return default_rules()  # a version of an earlier release: the job's check decides


def registry(held: psycopg.Connection) -> dict[str, list[dict[str, Any]]]:
    """Every registered rules version and model version, latest effective first."""
    return {
        "rules": [vars_of(row) for row in reversed(store.registrations(held))],
        "models": [vars_of(row) for row in reversed(model_store.registrations(held))][
            :MAX_LISTED_MODELS
        ],
    }


def vars_of(row: Any) -> dict[str, Any]:
    """A store's row (a dataclass) as the page reads it."""
    return {name: getattr(row, name) for name in row.__dataclass_fields__}


def challenger_quality(held: psycopg.Connection) -> list[dict[str, Any]]:
    with held.cursor(row_factory=dict_row) as rows:
        return rows.execute(
            "SELECT * FROM gold.challenger_quality ORDER BY last_event_time DESC"
        ).fetchall()


def backtests(held: psycopg.Connection, limit: int = 50) -> list[dict[str, Any]]:
    with held.cursor(row_factory=dict_row) as rows:
        return rows.execute(
            "SELECT b.backtest_id, b.candidate_version, b.from_day, b.to_day, b.status, "
            "b.requested_at, u.name AS requested_by, b.promoted_as, b.note "
            "FROM console.backtests b JOIN console.users u ON u.user_id = b.requested_by "
            "ORDER BY b.backtest_id DESC LIMIT %s",
            (limit,),
        ).fetchall()


def backtest(held: psycopg.Connection, backtest_id: int) -> dict[str, Any] | None:
    with held.cursor(row_factory=dict_row) as rows:
        return rows.execute(
            "SELECT b.*, u.name AS requested_by_name, p.name AS promoted_by_name "
            "FROM console.backtests b JOIN console.users u ON u.user_id = b.requested_by "
            "LEFT JOIN console.users p ON p.user_id = b.promoted_by WHERE b.backtest_id = %s",
            (backtest_id,),
        ).fetchone()


def _candidate(held: psycopg.Connection, rules_text: str) -> RulesChange:
    """The candidate as the job would read it; 422 with the reason if it would refuse it."""
    if len(rules_text) > MAX_RULES_TEXT:
        raise ActionError(f"rules: at most {MAX_RULES_TEXT} characters", 422)
    now = int(datetime.now(UTC).timestamp() * 1000)
    try:
        change = new_rules_change(rules_text, now + 1, now, "console", "")
    except ValueError as error:
        raise ActionError(f"rules: {error}", 422) from None
    told = parse_compatible_rules_change(encode_rules_change(change), champion_base(held))
    if not isinstance(told, RulesChange):
        raise ActionError(told.message, 422)
    return change


def request_backtest(
    held: psycopg.Connection, user: User, rules_text: str, start: date, end: date, note: str
) -> int:
    """Queue a backtest of ``rules_text`` over the days [start, end]; its id."""
    require_supervisor(user)
    if end < start:
        raise ActionError("to: not before from", 422)
    if (end - start).days >= MAX_BACKTEST_DAYS:
        raise ActionError(f"at most {MAX_BACKTEST_DAYS} days per backtest", 422)
    if len(note) > MAX_NOTE:
        raise ActionError(f"note: at most {MAX_NOTE} characters", 422)
    candidate = _candidate(held, rules_text)
    row = held.execute(
        "INSERT INTO console.backtests (requested_by, candidate_rules, candidate_version, "
        "from_day, to_day, note) VALUES (%s, %s, %s, %s, %s, %s) RETURNING backtest_id",
        (user.user_id, rules_text, candidate.rules_version, start, end, note),
    ).fetchone()
    assert row is not None  # INSERT ... RETURNING gives one row
    return int(row[0])


def promote(
    held: psycopg.Connection,
    user: User,
    backtest_id: int,
    effective_from: datetime,
    note: str,
    bootstrap_servers: str | None,
    topic: str,
    role: str = CHAMPION,
) -> int:
    """Register a finished backtest's candidate, effective from ``effective_from``, as the
    champion or as a challenger in shadow; the registration's id. Refused (4xx, one line) if
    it cannot take effect as asked. A promotion the broker refused is published again by the
    next promotion of the same backtest, as registered the first time."""
    require_supervisor(user)
    found = backtest(held, backtest_id)
    if found is None:
        raise ActionError(f"no backtest {backtest_id}", 404)
    if found["status"] != "done":
        raise ActionError(f"backtest {backtest_id} is {found['status']}: nothing to promote", 409)
    if not bootstrap_servers:
        raise ActionError(
            "the console has no Kafka to publish to: set STREAMFLOW_KAFKA_BOOTSTRAP", 503
        )
    if found["promoted_as"] is not None:
        return _publish_again(held, found, bootstrap_servers, topic)
    if effective_from.tzinfo is None:
        raise ActionError("effective_from: give its UTC offset", 422)
    try:
        effective_from = checked_effective_from(effective_from)
    except CommandError as error:
        raise ActionError(str(error).removeprefix("--"), 422) from None
    if len(note) > MAX_NOTE:
        raise ActionError(f"note: at most {MAX_NOTE} characters", 422)
    if role not in ROLES:
        raise ActionError(f"role: one of {', '.join(ROLES)}", 422)
    at = millis(effective_from)
    candidate = replace(
        _candidate(held, found["candidate_rules"]),
        effective_from_ms=at,
        registered_at_ms=at - 1,
        author=user.name,
        note=note,
        role=role,
    )
    # The row and the backtest's mark in one transaction; of two supervisors promoting at
    # once, the second finds the backtest taken and registers nothing.
    with held.transaction():
        row = store.insert(held, candidate, effective_from, f"console:{backtest_id}")
        taken = held.execute(
            "UPDATE console.backtests SET promoted_as = %s, promoted_by = %s, "
            "promoted_at = now() WHERE backtest_id = %s AND promoted_as IS NULL",
            (row.registration_id, user.user_id, backtest_id),
        ).rowcount
        if not taken:
            raise ActionError(f"backtest {backtest_id} was promoted meanwhile", 409)
    _publish(held, row, bootstrap_servers, topic)
    return row.registration_id


def _publish(
    held: psycopg.Connection, row: store.Registration, bootstrap_servers: str, topic: str
) -> None:
    try:
        publish_registration(held, row, bootstrap_servers, topic)
    except CommandError as error:
        message = (
            f"registered as {row.registration_id} but not published ({error}): "
            "promote again to publish it"
        )
        raise ActionError(message, 502) from None


def _publish_again(
    held: psycopg.Connection, found: dict[str, Any], bootstrap_servers: str, topic: str
) -> int:
    """A promoted backtest: published again if the broker refused it, else 409."""
    row = store.find_by_id(held, found["promoted_as"])
    if row is None or row.published_at is not None:
        raise ActionError(
            f"backtest {found['backtest_id']} was promoted as {found['promoted_as']}", 409
        )
    _publish(held, row, bootstrap_servers, topic)
    return row.registration_id


def earliest_effective_from() -> datetime:
    """What the promote form proposes: the grace from now, rounded up to the next minute."""
    moment = datetime.now(UTC) + grace() + timedelta(minutes=1)
    return moment.replace(second=0, microsecond=0)
