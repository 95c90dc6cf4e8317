"""The one place that builds a dead-letter record (docs/architecture.md, "Outputs").

A DLQ record keeps everything needed to understand and replay a rejected input: the stable
error type, a message, where in the pipeline it failed, where the input came from, and the
original payload (truncated at 64 KiB, with its real size). ``dlq_id`` is derived from the
source and payload, so replaying the same input yields the same id and sinks stay idempotent.
"""

from __future__ import annotations

import hashlib
from typing import Any

from transforms.domain.event_time import EARLIEST_EVENT_MS, LATEST_EVENT_MS, parse_timestamp
from transforms.domain.json_fields import ErrorType

MAX_RAW_PAYLOAD_BYTES = 64 * 1024


def build_dlq_record(
    *,
    error_type: ErrorType,
    error_message: str,
    stage: str,
    source: str,
    raw_payload: bytes,
    received_at: str,
    pipeline_version: str,
    schema_version: int | None = None,
) -> dict[str, Any]:
    digest = hashlib.sha256()
    digest.update(source.encode("utf-8", "surrogateescape"))
    digest.update(b"\x00")
    digest.update(raw_payload)
    kept = raw_payload[:MAX_RAW_PAYLOAD_BYTES]
    return {
        "dlq_id": digest.hexdigest()[:32],
        "error_type": error_type.value,
        "error_message": error_message,
        "stage": stage,
        "source": source,
        # backslashreplace keeps undecodable bytes visible and recoverable in a text column
        "raw_payload": kept.decode("utf-8", "backslashreplace"),
        "truncated": len(raw_payload) > MAX_RAW_PAYLOAD_BYTES,
        "raw_size_bytes": len(raw_payload),
        "schema_version": schema_version,
        "received_at": received_at,
        "pipeline_version": pipeline_version,
    }


def dead_letter_event_time(document: dict[str, Any]) -> int | None:
    """The event time, in epoch ms, of a dead letter's payload when it gives a usable one: the
    raw event's ``timestamp`` (parse stage) or the parsed event's ``event_time`` (detect
    stage), with a UTC offset and within the event times the parser accepts; else None."""
    for field in ("event_time", "timestamp"):
        moment = document.get(field)
        if not isinstance(moment, str):
            continue
        try:
            epoch_ms = parse_timestamp(moment, None)
        except (ValueError, OverflowError):
            return None
        return epoch_ms if EARLIEST_EVENT_MS <= epoch_ms <= LATEST_EVENT_MS else None
    return None
