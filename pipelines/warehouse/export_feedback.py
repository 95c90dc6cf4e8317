"""Export feedback: ``python -m pipelines.warehouse export-feedback --dsn DSN --archive DIR``.

The confirmed outcomes the warehouse holds (``silver.feedback``: analysts' verdicts from the
console) written into the feedback archive's layout, one file per report day,
``DIR/date=YYYY-MM-DD/warehouse.jsonl`` (the UTC day of ``reported_at``), beside the files
other sources put there: what model_retrain and the backfills read (``--feedback``,
``--feedback_archive``) then includes them. Each line is the pipeline's feedback contract
(transforms/domain/feedback.py) with its ``feedback_id``. A day's file is rewritten whole, by
a rename, so a rerun or a concurrent reader never sees half of one. Prints
``{"days": N, "records": M}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import psycopg

from pipelines.cli import RUN_ERROR, CommandError, os_error_reason
from pipelines.synthetic.archive import write_feedback_archive
from transforms.domain.feedback import feedback_document

EXPORT_FILE = "warehouse.jsonl"


def export_feedback(dsn: str, archive: Path) -> dict[str, int]:
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "SELECT feedback_id, transaction_id, customer_id, store_id, label, reported_at, "
            "source FROM silver.feedback ORDER BY reported_at, feedback_id"
        ).fetchall()
    lines = [
        json.dumps(
            feedback_document(
                feedback_id=str(feedback_id),
                transaction_id=transaction,
                customer_id=customer,
                store_id=store,
                label=label,
                reported_at=reported_at,
                source=source,
            ),
            ensure_ascii=False,
        ).encode("utf-8")
        for feedback_id, transaction, customer, store, label, reported_at, source in rows
    ]
    per_day = write_feedback_archive(lines, archive, file_name=EXPORT_FILE)
    return {"days": len(per_day), "records": sum(per_day.values())}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--archive",
        type=Path,
        required=True,
        help="Root of the feedback archive (date=YYYY-MM-DD folders).",
    )


def command(dsn: str, args: argparse.Namespace) -> int:
    try:
        exported = export_feedback(dsn, args.archive)
    except OSError as error:
        raise CommandError(os_error_reason(error), RUN_ERROR) from None
    print(json.dumps(exported))
    return 0
