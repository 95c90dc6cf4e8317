"""ParseFeedback: raw confirmed-outcome records to ``Feedback``, or dead letters with a reason.

Every record ends in exactly one output and the counters prove it: ``feedback_read =
feedback_accepted + sum(dlq_<ERROR_TYPE> of stage parse_feedback)``; the pipeline's
conservation law adds both sides to the events'. Accepted records are stamped at their report
time, the instant from which they count.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.timestamp import Timestamp

from transforms.counters import DLQ_PREFIX, FEEDBACK_ACCEPTED, FEEDBACK_READ, NAMESPACE
from transforms.domain.dlq import build_dlq_record
from transforms.domain.feedback import Feedback, parse_feedback
from transforms.domain.json_fields import ErrorType
from transforms.tags import DLQ_TAG, FEEDBACK_TAG

FEEDBACK_STAGE = "parse_feedback"


class ParseFeedbackFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self, max_payload_bytes: int, pipeline_version: str) -> None:
        self._max_payload_bytes = max_payload_bytes
        self._pipeline_version = pipeline_version
        self._read = Metrics.counter(NAMESPACE, FEEDBACK_READ)
        self._accepted = Metrics.counter(NAMESPACE, FEEDBACK_ACCEPTED)
        self._dlq = {
            kind: Metrics.counter(NAMESPACE, DLQ_PREFIX + kind.value) for kind in ErrorType
        }

    def process(self, record: tuple[str, bytes]) -> Iterator[Any]:
        source, payload = record
        self._read.inc()
        result = parse_feedback(payload, self._max_payload_bytes)
        if isinstance(result, Feedback):
            self._accepted.inc()
            yield beam.window.TimestampedValue(
                result, Timestamp(micros=result.reported_at_ms * 1000)
            )
            return
        self._dlq[result.error_type].inc()
        yield beam.pvalue.TaggedOutput(
            DLQ_TAG,
            build_dlq_record(
                error_type=result.error_type,
                error_message=result.message,
                stage=FEEDBACK_STAGE,
                source=source,
                raw_payload=payload,
                received_at=datetime.now(UTC).isoformat(),
                pipeline_version=self._pipeline_version,
                schema_version=None,
            ),
        )


class ParseFeedback(beam.PTransform):  # type: ignore[misc]
    """``(source, payload)`` records in; ``feedback`` (Feedback) and ``dlq`` (dict) out."""

    def __init__(self, max_payload_bytes: int, pipeline_version: str) -> None:
        super().__init__()
        self._fn = ParseFeedbackFn(max_payload_bytes, pipeline_version)

    def expand(self, records: Any) -> Any:
        return records | "ValidateFeedback" >> beam.ParDo(self._fn).with_outputs(
            DLQ_TAG, main=FEEDBACK_TAG
        )
