"""ParseControls: raw feedback, blacklist-change or rules-change records to domain records, or
dead letters.

The pipeline's inputs besides the events tell its state something at a given time: confirmed
outcomes (``--feedback``, :mod:`transforms.domain.feedback`), blacklist changes
(``--blacklist_changes``, :mod:`transforms.domain.blacklist_changes`) and, on the live path,
registered rules and model versions (``--rules_topic``,
:mod:`transforms.domain.scoring_registry`). Each
kind is parsed here the same way: every record ends in exactly one output and the counters
prove it (``<kind>_read = <kind>_accepted + its dlq_<ERROR_TYPE> records``; the pipeline's
conservation law adds both sides to the events'). Accepted records are stamped at the time they
take effect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.timestamp import Timestamp

from transforms.counters import (
    BLACKLIST_CHANGES_ACCEPTED,
    BLACKLIST_CHANGES_READ,
    CONTROL_DLQ_PREFIX,
    FEEDBACK_ACCEPTED,
    FEEDBACK_READ,
    NAMESPACE,
    RULES_CHANGES_ACCEPTED,
    RULES_CHANGES_READ,
)
from transforms.domain.blacklist_changes import BlacklistChange, parse_blacklist_change
from transforms.domain.config import RulesConfig
from transforms.domain.dlq import build_dlq_record
from transforms.domain.feedback import Feedback, parse_feedback
from transforms.domain.json_fields import ErrorType, InvalidRecord
from transforms.domain.model_registry import ModelChange
from transforms.domain.rules_registry import RulesChange
from transforms.domain.scoring_registry import RegisteredChange, parse_registered_change
from transforms.tags import ACCEPTED_TAG, DLQ_TAG


def _reported_at(record: Feedback) -> int:
    return record.reported_at_ms


def _effective_at(record: BlacklistChange) -> int:
    return record.effective_at_ms


@dataclass(frozen=True)
class ControlInput:
    """One kind of control record: its parser, the time it takes effect, its counters."""

    stage: str
    parse: Callable[[bytes, int], Any]  # the record, or an invalid one with error_type/message
    accepted_type: type | tuple[type, ...]
    takes_effect_at: Callable[[Any], int]
    read_counter: str
    accepted_counter: str


FEEDBACK_INPUT = ControlInput(
    "parse_feedback", parse_feedback, Feedback, _reported_at, FEEDBACK_READ, FEEDBACK_ACCEPTED
)
BLACKLIST_CHANGES_INPUT = ControlInput(
    "parse_blacklist_change",
    parse_blacklist_change,
    BlacklistChange,
    _effective_at,
    BLACKLIST_CHANGES_READ,
    BLACKLIST_CHANGES_ACCEPTED,
)
RULES_CHANGES_STAGE = "parse_rules_change"
CONTROL_STAGES = frozenset(
    (FEEDBACK_INPUT.stage, BLACKLIST_CHANGES_INPUT.stage, RULES_CHANGES_STAGE)
)


def _effective_from(record: RegisteredChange) -> int:
    return record.effective_from_ms


@dataclass(frozen=True)
class _CompatibleChange:
    """A registered version, refused unless the job's state can honour it (a picklable
    parser)."""

    base: RulesConfig

    def __call__(self, payload: bytes, _max_payload_bytes: int) -> RegisteredChange | InvalidRecord:
        # A rules file may outgrow an event: its own limit (MAX_RULES_CHANGE_BYTES).
        return parse_registered_change(payload, self.base)


def rules_changes_input(base: RulesConfig) -> ControlInput:
    """Registered rules and model versions, rules checked against the job's base rules."""
    return ControlInput(
        RULES_CHANGES_STAGE,
        _CompatibleChange(base),
        (RulesChange, ModelChange),
        _effective_from,
        RULES_CHANGES_READ,
        RULES_CHANGES_ACCEPTED,
    )


class ParseControlsFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self, kind: ControlInput, max_payload_bytes: int, pipeline_version: str) -> None:
        self._kind = kind
        self._max_payload_bytes = max_payload_bytes
        self._pipeline_version = pipeline_version
        self._read = Metrics.counter(NAMESPACE, kind.read_counter)
        self._accepted = Metrics.counter(NAMESPACE, kind.accepted_counter)
        self._dlq = {
            error: Metrics.counter(NAMESPACE, CONTROL_DLQ_PREFIX + error.value)
            for error in ErrorType
        }

    def process(self, record: tuple[str, bytes]) -> Iterator[Any]:
        source, payload = record
        self._read.inc()
        kind = self._kind
        result = kind.parse(payload, self._max_payload_bytes)
        if isinstance(result, kind.accepted_type):
            self._accepted.inc()
            millis = kind.takes_effect_at(result)
            yield beam.window.TimestampedValue(result, Timestamp(micros=millis * 1000))
            return
        self._dlq[result.error_type].inc()
        yield beam.pvalue.TaggedOutput(
            DLQ_TAG,
            build_dlq_record(
                error_type=result.error_type,
                error_message=result.message,
                stage=kind.stage,
                source=source,
                raw_payload=payload,
                received_at=datetime.now(UTC).isoformat(),
                pipeline_version=self._pipeline_version,
                schema_version=None,
            ),
        )


class ParseControls(beam.PTransform):  # type: ignore[misc]
    """``(source, payload)`` records in; ``accepted`` (the domain records) and ``dlq`` out."""

    def __init__(self, kind: ControlInput, max_payload_bytes: int, pipeline_version: str) -> None:
        super().__init__()
        self._fn = ParseControlsFn(kind, max_payload_bytes, pipeline_version)

    def expand(self, records: Any) -> Any:
        return records | "Validate" >> beam.ParDo(self._fn).with_outputs(DLQ_TAG, main=ACCEPTED_TAG)
