"""Rules versions that take effect at an event time: the registry's record and its lookup.

A job starts with one rules file (``--rules``, or the packaged defaults): its *base*. A
registered change is a complete rules file that takes effect at ``effective_from``; every event
is scored by the version in effect at its own time, so a replay of the same input over the same
registry gives the same records as the live job, and a change at T gives, record for record,
the base's records before T and the new version's from T on. One contract carries a change
everywhere (a row of ``silver.rules_registry``, a record of the compacted ``reference.rules``
topic, a line of a ``--rules_changes`` file)::

    {"rules": "<the complete rules file, YAML>", "sha256": "<of the rules text>",
     "rules_version": "rules-…", "effective_from": "2026-12-06T12:00:00Z",
     "registered_at": "2026-12-06T11:58:00Z", "author": "...", "note": "..."}

``rules_version`` and ``sha256`` are checked against the text. Of two versions effective at
one instant, the later registered wins (then the larger SHA-256, for determinism).

**What a version may not change.** Some settings decide what the customer's state keeps, not
only how it is scored (:data:`STATE_SHAPING`): how long a history lives, the velocity window,
how many of its entries are kept, how long a confirmed fraud marks a card. A job keeps its state
by the base's settings, so a version that changed them could not be honoured exactly from its
effective time (the history it needs was never kept); such a version is refused at
registration and dead-lettered if it reaches a job. Changing them is a new job and a backfill.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from transforms.domain.config import RulesConfig, rules_from_text
from transforms.domain.effective import (
    CHAMPION,
    MAX_AUTHOR,
    MAX_NOTE,
    EffectiveTimeline,
    iso_millis,
    parse_role,
    role_document,
)
from transforms.domain.json_fields import (
    ErrorType,
    InvalidRecord,
    InvalidRecordError,
    decode_object,
    optional_text,
    plain_text,
    timestamp,
)

MAX_RULES_CHANGE_BYTES = 256 * 1024
MAX_RULES_TEXT = 128 * 1024

# Settings that shape the kept state, as (name, how to read it from a RulesConfig).
STATE_SHAPING: tuple[tuple[str, Any], ...] = (
    ("inactivity_days", lambda rules: rules.inactivity_days),
    ("rules.FR-002.window_minutes", lambda rules: rules.velocity.window_minutes),
    ("rules.FR-002.max_count", lambda rules: rules.velocity.max_count),
    ("rules.FR-008.active_days", lambda rules: rules.compromised_card.active_days),
)


def state_shaping_differences(current: RulesConfig, candidate: RulesConfig) -> list[str]:
    """The state-shaping settings ``candidate`` changes, as ``name a -> b``."""
    return [
        f"{name} {read(current)} -> {read(candidate)}"
        for name, read in STATE_SHAPING
        if read(current) != read(candidate)
    ]


class IncompatibleRulesError(ValueError):
    """A version that changes what the kept state holds (:data:`STATE_SHAPING`)."""


def check_compatible(current: RulesConfig, candidate: RulesConfig) -> None:
    changed = state_shaping_differences(current, candidate)
    if changed:
        raise IncompatibleRulesError(
            "changes what the kept state holds ("
            + "; ".join(changed)
            + "): that needs a new job and a backfill, not a registered version"
        )


def rules_sha256(rules_text: str) -> str:
    return hashlib.sha256(rules_text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class RulesChange:
    """One registered version: ``rules`` in effect from ``effective_from_ms`` on."""

    effective_from_ms: int
    rules: RulesConfig = field(compare=False)
    rules_text: str = field(repr=False)
    registered_at_ms: int
    author: str = ""
    note: str = ""
    # A challenger scores in shadow, never alerting (transforms.domain.effective).
    role: str = CHAMPION
    effective_until_ms: int | None = None

    @property
    def rules_version(self) -> str:
        return self.rules.rules_version

    @property
    def sha256(self) -> str:
        return rules_sha256(self.rules_text)

    def precedence(self) -> tuple[int, int, str]:
        """Which of two versions effective at one instant wins: the later registered."""
        return self.effective_from_ms, self.registered_at_ms, self.sha256


def new_rules_change(
    rules_text: str, effective_from_ms: int, registered_at_ms: int, author: str, note: str
) -> RulesChange:
    """A change from a rules file's text; ``ValueError`` says what is wrong with the file."""
    return RulesChange(
        effective_from_ms, rules_from_text(rules_text), rules_text, registered_at_ms, author, note
    )


def rules_change_document(change: RulesChange) -> dict[str, Any]:
    """The contract's record of ``change``."""
    return {
        "rules_version": change.rules_version,
        "sha256": change.sha256,
        "effective_from": iso_millis(change.effective_from_ms),
        "registered_at": iso_millis(change.registered_at_ms),
        "author": change.author,
        "note": change.note,
        "rules": change.rules_text,
        **role_document(change.role, change.effective_until_ms),
    }


def encode_rules_change(change: RulesChange) -> bytes:
    return json.dumps(rules_change_document(change), sort_keys=True).encode("utf-8")


def parse_rules_change(
    payload: bytes | str, max_payload_bytes: int = MAX_RULES_CHANGE_BYTES
) -> RulesChange | InvalidRecord:
    """Parse one change record. Never raises: what is wrong is an ``InvalidRecord``."""
    try:
        return _parse_rules_change(payload, max_payload_bytes)
    except InvalidRecordError as invalid:
        return InvalidRecord(invalid.error_type, invalid.message)
    except Exception as error:  # a last resort: a record on a topic must never stop a worker
        return InvalidRecord(ErrorType.INVALID_FIELD, f"{type(error).__name__}: {error}")


def parse_compatible_rules_change(
    payload: bytes | str, base: RulesConfig
) -> RulesChange | InvalidRecord:
    """Parse one change record and refuse it unless a job with rules ``base`` can honour it
    (:data:`STATE_SHAPING`): what a job reads, and so what registration checks. Never raises."""
    change = parse_rules_change(payload)
    if isinstance(change, RulesChange):
        try:
            check_compatible(base, change.rules)
        except IncompatibleRulesError as error:
            return InvalidRecord(ErrorType.INVALID_FIELD, f"rules: {error}")
    return change


def _parse_rules_change(payload: bytes | str, max_payload_bytes: int) -> RulesChange:
    document = decode_object(payload, max_payload_bytes)
    if not isinstance(document.get("rules"), str):
        raise InvalidRecordError(ErrorType.MISSING_FIELD, "rules: missing or not a string")
    rules_text = plain_text(document, "rules", MAX_RULES_TEXT)
    try:
        rules = rules_from_text(rules_text)
    except ValueError as error:
        raise InvalidRecordError(ErrorType.INVALID_FIELD, f"rules: {error}") from None
    for name, expected in (
        ("sha256", rules_sha256(rules_text)),
        ("rules_version", rules.rules_version),
    ):
        given = optional_text(document, name, 100)
        if given is not None and given != expected:
            raise InvalidRecordError(
                ErrorType.INVALID_FIELD, f"{name} {given} is not the rules text's {expected}"
            )
    role, until = parse_role(document)
    return RulesChange(
        effective_from_ms=timestamp(document, "effective_from", None),
        rules=rules,
        rules_text=rules_text,
        registered_at_ms=timestamp(document, "registered_at", None),
        author=plain_text(document, "author", MAX_AUTHOR),
        note=plain_text(document, "note", MAX_NOTE),
        role=role,
        effective_until_ms=until,
    )


class RulesRegistry:
    """The base and the registered changes a job knows: which rules are in effect when.

    ``learn`` adds a change (idempotent: a change seen twice is one); ``at`` is a binary search,
    so scoring an event costs the same with one version or many."""

    def __init__(self, base: RulesConfig, changes: tuple[RulesChange, ...] = ()) -> None:
        self.base = base
        self._timeline: EffectiveTimeline[RulesChange] = EffectiveTimeline()
        for change in changes:
            self.learn(change)

    @property
    def changes(self) -> tuple[RulesChange, ...]:
        return self._timeline.values()

    def learn(self, change: RulesChange) -> bool:
        """Add ``change``; False if it was known. :class:`IncompatibleRulesError` if it changes
        what the state keeps."""
        check_compatible(self.base, change.rules)
        return self._timeline.learn(*change.precedence(), change)

    def at(self, time_ms: int) -> RulesConfig:
        """The rules in effect at ``time_ms``: the latest change effective at or before it."""
        change = self._timeline.at(time_ms)
        return change.rules if change is not None else self.base

    def versions(self) -> list[RulesConfig]:
        """Every version this registry can answer with, the base first."""
        return [self.base, *(change.rules for change in self.changes)]
