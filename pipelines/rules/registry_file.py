"""The registry as a replay reads it: every published rules and model version, one contract
record per line, in the order they take effect (then of registration). ``python -m
pipelines.rules export`` writes it; the console's backtests give it to the champion."""

from __future__ import annotations

from typing import Any

import psycopg

from pipelines.models import store as model_store
from pipelines.rules import store as rules_store
from transforms.domain.model_registry import encode_model_change
from transforms.domain.rules_registry import encode_rules_change


def registry_lines(connection: psycopg.Connection[Any]) -> list[bytes]:
    """The published versions' records; ``ValueError`` if a stored rules text no longer
    parses as a rules file of this release."""
    rules = [
        ((row.effective_from, row.registered_at), encode_rules_change(row.change()))
        for row in rules_store.registrations(connection, published_only=True)
    ]
    models = [
        ((row.effective_from, row.registered_at), encode_model_change(row.change()))
        for row in model_store.registrations(connection, published_only=True)
    ]
    return [record for _, record in sorted(rules + models)]
