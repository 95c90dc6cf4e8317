"""Model versions that take effect at an event time: the registry's record and its lookup.

As with rules (:mod:`transforms.domain.rules_registry`), a job starts with one model (``--model``,
its *base*), and a registered model version scores the events from its ``effective_from`` on,
live and on replay alike. The record names the artifact, it does not carry it: workers load it
from any Beam file system (``location``) and check its SHA-256 before they score with it::

    {"kind": "model", "model_version": "supervised-…", "sha256": "<of the model file>",
     "location": "gs://…/models/2026-12-07", "effective_from": "…Z", "registered_at": "…Z",
     "author": "...", "note": "..."}

Whatever is not a valid record is an ``InvalidRecord`` (the parser never raises).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

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
    plain_text,
    text,
    timestamp,
)

MAX_MODEL_CHANGE_BYTES = 16 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class ModelChange:
    """One registered model version, in effect from ``effective_from_ms`` on."""

    model_version: str
    sha256: str
    location: str
    effective_from_ms: int
    registered_at_ms: int
    author: str = ""
    note: str = ""
    # A challenger scores in shadow, never alerting (transforms.domain.effective).
    role: str = CHAMPION
    effective_until_ms: int | None = None

    def precedence(self) -> tuple[int, int, str]:
        return self.effective_from_ms, self.registered_at_ms, self.sha256

    def reference(self) -> tuple[str, str, str]:
        """What the model's step needs to load and check the artifact."""
        return self.model_version, self.location, self.sha256


def model_change_document(change: ModelChange) -> dict[str, Any]:
    return {
        "kind": "model",
        "model_version": change.model_version,
        "sha256": change.sha256,
        "location": change.location,
        "effective_from": iso_millis(change.effective_from_ms),
        "registered_at": iso_millis(change.registered_at_ms),
        "author": change.author,
        "note": change.note,
        **role_document(change.role, change.effective_until_ms),
    }


def encode_model_change(change: ModelChange) -> bytes:
    return json.dumps(model_change_document(change), sort_keys=True).encode("utf-8")


def parse_model_change(
    payload: bytes | str, max_payload_bytes: int = MAX_MODEL_CHANGE_BYTES
) -> ModelChange | InvalidRecord:
    """Parse one model change record. Never raises."""
    try:
        document = decode_object(payload, max_payload_bytes)
        sha256 = text(document, "sha256", 64)
        if not _SHA256.match(sha256):
            raise InvalidRecordError(ErrorType.INVALID_FIELD, "sha256: 64 lowercase hex digits")
        role, until = parse_role(document)
        return ModelChange(
            role=role,
            effective_until_ms=until,
            model_version=text(document, "model_version", 100),
            sha256=sha256,
            location=text(document, "location", 1000),
            effective_from_ms=timestamp(document, "effective_from", None),
            registered_at_ms=timestamp(document, "registered_at", None),
            author=plain_text(document, "author", MAX_AUTHOR),
            note=plain_text(document, "note", MAX_NOTE),
        )
    except InvalidRecordError as invalid:
        return InvalidRecord(invalid.error_type, invalid.message)
    except Exception as error:  # a last resort: a record on a topic must never stop a worker
        return InvalidRecord(ErrorType.INVALID_FIELD, f"{type(error).__name__}: {error}")


class ModelRegistry:
    """The registered model versions a job knows; ``at`` gives the one in effect at a time,
    None before the first (the job's own ``--model`` then)."""

    def __init__(self, changes: tuple[ModelChange, ...] = ()) -> None:
        self._timeline: EffectiveTimeline[ModelChange] = EffectiveTimeline()
        for change in changes:
            self.learn(change)

    @property
    def changes(self) -> tuple[ModelChange, ...]:
        return self._timeline.values()

    def learn(self, change: ModelChange) -> bool:
        return self._timeline.learn(*change.precedence(), change)

    def at(self, time_ms: int) -> ModelChange | None:
        return self._timeline.at(time_ms)
