"""Model registry: ``python -m pipelines.warehouse register-model --decision JSON``.

Records one ``ml.promote`` decision (promoted or kept, with both models' held-out metrics and
the candidate's SHA-256) in ``silver.model_registry``, and prints the row's id.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import psycopg


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--decision", required=True, type=json.loads, help="ml.promote's JSON output."
    )


def command(dsn: str, args: argparse.Namespace) -> int:
    print(json.dumps({"registry_id": register(dsn, args.decision)}))
    return 0
