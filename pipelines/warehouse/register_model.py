"""Model registry: ``python -m pipelines.warehouse register-model --decision JSON``.

Records one ``ml.promote`` decision (promoted or kept, with both models' held-out metrics and
the candidate's SHA-256) in ``silver.model_registry``, and prints the row's id.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import psycopg

from pipelines.cli import CommandError

# What a decision must hold; the candidate's own keys are checked when it is registered.
DECISION_KEYS = ("decision", "reason", "model_dir", "candidate", "current")


def register(dsn: str, decision: dict[str, Any]) -> int:
    candidate, current = decision["candidate"], decision["current"]
    with psycopg.connect(dsn) as connection:
        row = connection.execute(
            "INSERT INTO silver.model_registry (model_version, model_sha256, promoted, reason, "
            "location, training, metrics, replaced_version, replaced_metrics) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING registry_id",
            (
                candidate["model_version"],
                candidate["model_sha256"],
                decision["decision"] == "promoted",
                decision["reason"],
                decision["model_dir"],
                json.dumps(candidate.get("training", {})),
                json.dumps(candidate["metrics"]),
                current.get("model_version"),
                json.dumps(current["metrics"]) if current.get("metrics") else None,
            ),
        ).fetchone()
    assert row is not None  # INSERT ... RETURNING gives one row
    return int(row[0])


def decision_json(text: str) -> dict[str, Any]:
    """``--decision``: a JSON object with what :func:`register` reads, as an argparse type."""
    try:
        decision = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not JSON ({error})") from None
    if not isinstance(decision, dict):
        raise argparse.ArgumentTypeError("not a JSON object (ml.promote prints one)")
    missing = [key for key in DECISION_KEYS if key not in decision]
    if missing:
        raise argparse.ArgumentTypeError(f"no {', '.join(missing)} (ml.promote prints them)")
    return decision


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--decision", required=True, type=decision_json, help="ml.promote's JSON output."
    )


def command(dsn: str, args: argparse.Namespace) -> int:
    try:
        registry_id = register(dsn, args.decision)
    except (KeyError, TypeError, AttributeError) as error:
        raise CommandError(f"--decision: its candidate or current model lacks {error}") from None
    print(json.dumps({"registry_id": registry_id}))
    return 0
