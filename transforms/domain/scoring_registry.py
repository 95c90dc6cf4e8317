"""What scores an event: the rules and the model versions in effect at its time.

A job starts with its own rules (``--rules``) and model (``--model``); registered versions of
either (:mod:`transforms.domain.rules_registry`, :mod:`transforms.domain.model_registry`) take
over from their ``effective_from``. Both kinds travel on one registry stream (the
``reference.rules`` topic, a ``--rules_changes`` file): a model version's record says
``"kind": "model"``, a rules version's says ``"rules"`` or nothing (records written before
models were registered). Either kind may be a champion (it scores and alerts) or a challenger
(``"role": "challenger"``: it scores in shadow beside the champion, never alerting).
"""

from __future__ import annotations

from typing import Any

from transforms.domain.config import RulesConfig
from transforms.domain.effective import CHALLENGER, EffectiveTimeline, in_effect
from transforms.domain.json_fields import ErrorType, InvalidRecord, decode_object
from transforms.domain.model_registry import ModelChange, ModelRegistry, parse_model_change
from transforms.domain.rules_registry import (
    MAX_RULES_CHANGE_BYTES,
    RulesChange,
    RulesRegistry,
    check_compatible,
    parse_compatible_rules_change,
)

RegisteredChange = RulesChange | ModelChange
KINDS = ("rules", "model")


def _kind(payload: bytes | str) -> Any:
    """The record's ``kind``; None when absent or when the payload is no JSON object (the rules
    parser then says what is wrong with it)."""
    try:
        return decode_object(payload, MAX_RULES_CHANGE_BYTES).get("kind")
    except Exception:  # never raises: the rules parser reports the payload's fault
        return None


def parse_registered_change(
    payload: bytes | str, base: RulesConfig
) -> RegisteredChange | InvalidRecord:
    """One record of the registry stream, refused unless a job with rules ``base`` can honour
    it. Never raises."""
    kind = _kind(payload)
    if kind == "model":
        return parse_model_change(payload)
    if kind is None or kind == "rules":
        return parse_compatible_rules_change(payload, base)
    return InvalidRecord(ErrorType.INVALID_FIELD, f"kind: {str(kind)[:40]!r} is not one of {KINDS}")


class ScoringRegistry:
    """The versions a job knows of both kinds and both roles. ``model_at`` is None while the
    job's own model scores (before the first registered model version); ``challengers_at``
    gives the shadow versions in effect, (None, None) when nothing shadows the champion."""

    def __init__(self, rules: RulesRegistry, models: ModelRegistry | None = None) -> None:
        self.rules = rules
        self.models = models if models is not None else ModelRegistry()
        self._challenger_rules: EffectiveTimeline[RulesChange] = EffectiveTimeline()
        self._challenger_models: EffectiveTimeline[ModelChange] = EffectiveTimeline()

    @classmethod
    def of(
        cls, base: RulesConfig | RulesRegistry, changes: tuple[RegisteredChange, ...] = ()
    ) -> ScoringRegistry:
        rules = base if isinstance(base, RulesRegistry) else RulesRegistry(base)
        registry = cls(RulesRegistry(rules.base, rules.changes))
        for change in changes:
            registry.learn(change)
        return registry

    @property
    def base(self) -> RulesConfig:
        return self.rules.base

    @property
    def changes(self) -> tuple[RegisteredChange, ...]:
        return (
            *self.rules.changes,
            *self.models.changes,
            *self._challenger_rules.values(),
            *self._challenger_models.values(),
        )

    def copy(self) -> ScoringRegistry:
        return ScoringRegistry.of(self.rules, self.changes[len(self.rules.changes) :])

    def learn(self, change: RegisteredChange) -> bool:
        """Add ``change``; False if known. :class:`IncompatibleRulesError` for a rules version
        (champion or challenger: both judge the same kept state) that changes what it keeps."""
        if change.role == CHALLENGER:
            if isinstance(change, ModelChange):
                return self._challenger_models.learn(*change.precedence(), change)
            check_compatible(self.base, change.rules)
            return self._challenger_rules.learn(*change.precedence(), change)
        if isinstance(change, ModelChange):
            return self.models.learn(change)
        return self.rules.learn(change)

    def rules_at(self, time_ms: int) -> RulesConfig:
        return self.rules.at(time_ms)

    def model_at(self, time_ms: int) -> ModelChange | None:
        return self.models.at(time_ms)

    def challengers_at(self, time_ms: int) -> tuple[RulesChange | None, ModelChange | None]:
        """The challenger rules and model in effect at ``time_ms`` (each None if none)."""
        if not self._challenger_rules and not self._challenger_models:
            return None, None  # the usual case, on every event: no search
        return (
            in_effect(self._challenger_rules.at(time_ms), time_ms),
            in_effect(self._challenger_models.at(time_ms), time_ms),
        )
