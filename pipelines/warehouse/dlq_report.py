"""DLQ report: ``python -m pipelines.warehouse dlq-report --dsn DSN [--since] [--until] [--top N]``.

The dead-letter rate of the window (the ``dlq_rate`` quality check's measure: input records
that went to the DLQ over all input records; rows the warehouse refused are not input records)
and the commonest error types with sample ``dlq_id``s, as one JSON document. Reads only: the
dlq_monitor DAG decides what is worth a notification.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

import psycopg

from pipelines.cli import Range
from pipelines.warehouse.options import add_window_arguments, window
from pipelines.warehouse.sql_files import read_sql


def dlq_report(
    dsn: str, since: datetime, until: datetime, top: int = 5, samples: int = 3
) -> dict[str, Any]:
    params = {"since": since, "until": until, "top": top, "samples": samples}
    with psycopg.connect(dsn) as connection:
        rate_row = connection.execute(read_sql("quality", "check_dlq_rate.sql"), params).fetchone()
        rows = connection.execute(
            read_sql("monitoring", "dlq_top_error_types.sql"), params
        ).fetchall()
    _, rate, input_records = rate_row if rate_row else ("dlq_rate", 0.0, 0)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "input_records": int(input_records),
        "dlq_rate": float(rate),
        "top_error_types": [
            {
                "error_type": error_type,
                "dead_letters": int(count),
                "stages": list(stages),
                "sample_dlq_ids": list(sample_ids),
            }
            for error_type, count, stages, sample_ids in rows
        ],
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_window_arguments(parser)
    parser.add_argument(
        "--top",
        type=Range(int, low=1, high=1000),
        default=5,
        help="Error types to list, 1 to 1000 (default 5).",
    )
    parser.add_argument(
        "--samples",
        type=Range(int, low=0, high=100),
        default=3,
        help="dlq_ids per error type, 0 to 100 (default 3).",
    )


def command(dsn: str, args: argparse.Namespace) -> int:
    since, until = window(args)
    print(json.dumps(dlq_report(dsn, since, until, args.top, args.samples)))
    return 0
