"""Data-quality checks: ``python -m pipelines.warehouse quality --dsn DSN --check NAME [...]``.

Each check is one SQL file under ``sql/quality/`` returning a measured value. The status is
``pass``, ``warn`` or ``fail`` against thresholds (defaults below, overridable per run), the
result is stored in ``silver.quality_check_results``, printed as JSON, and a ``fail`` exits
with status 3 (a crash exits 1), so an Airflow task running it fails, and fails without
retrying: a retry would measure the same. The window defaults to the last 24 hours.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from pipelines.cli import CommandError, Range
from pipelines.warehouse.options import add_window_arguments, window
from pipelines.warehouse.sql_files import read_sql


@dataclass(frozen=True, slots=True)
class Check:
    sql_file: str
    warn: float
    fail: float


# Higher measured values are worse for every check.
CHECKS = {
    "null_rate": Check("check_null_rate.sql", warn=0.10, fail=0.50),
    "duplicates": Check("check_duplicates.sql", warn=1, fail=100),
    "freshness": Check("check_freshness.sql", warn=60, fail=180),  # minutes
    "amounts": Check("check_amounts.sql", warn=0.001, fail=0.01),
    "dlq_rate": Check("check_dlq_rate.sql", warn=0.01, fail=0.05),
}
MAX_PLAUSIBLE_AMOUNT = 100_000


def status_of(measured: float, warn: float, fail: float) -> str:
    if measured >= fail:
        return "fail"
    return "warn" if measured >= warn else "pass"


def run_check(
    dsn: str,
    name: str,
    since: datetime,
    until: datetime,
    warn: float | None = None,
    fail: float | None = None,
) -> dict[str, Any]:
    check = CHECKS[name]
    warn = check.warn if warn is None else warn
    fail = check.fail if fail is None else fail
    sql = read_sql("quality", check.sql_file)
    params = {"since": since, "until": until, "max_amount": MAX_PLAUSIBLE_AMOUNT}
    with psycopg.connect(dsn) as connection:
        row = connection.execute(sql, params).fetchone()
        if row is None:
            raise RuntimeError(f"{check.sql_file} returned no row")
        _, measured, rows_checked = row
        result = {
            "check_name": name,
            "measured_value": float(measured),
            "warn_threshold": warn,
            "fail_threshold": fail,
            "status": status_of(float(measured), warn, fail),
            "details": {
                "rows_checked": int(rows_checked),
                "since": since.isoformat(),
                "until": until.isoformat(),
            },
        }
        connection.execute(
            "INSERT INTO silver.quality_check_results (check_name, measured_value, "
            "warn_threshold, fail_threshold, status, details) VALUES (%s, %s, %s, %s, %s, %s)",
            (
                name,
                result["measured_value"],
                warn,
                fail,
                result["status"],
                json.dumps(result["details"]),
            ),
        )
    return result


# The exit status of a check that measured a failure, apart from a crash's 1: a scheduler
# retries a crash, never a measurement.
CHECK_FAILED = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", required=True, choices=sorted(CHECKS))
    add_window_arguments(parser)
    threshold = Range(float, low=0)
    parser.add_argument(
        "--warn", type=threshold, help="Warn at or above, >= 0 (default per check)."
    )
    parser.add_argument(
        "--fail", type=threshold, help="Fail at or above, >= --warn (default per check)."
    )


def command(dsn: str, args: argparse.Namespace) -> int:
    since, until = window(args)
    check = CHECKS[args.check]
    warn = check.warn if args.warn is None else args.warn
    fail = check.fail if args.fail is None else args.fail
    if warn > fail:  # higher is worse: a warning threshold above the failure one is a typo
        raise CommandError(f"--warn {warn:g} is above --fail {fail:g}")
    result = run_check(dsn, args.check, since, until, args.warn, args.fail)
    print(json.dumps(result))
    return CHECK_FAILED if result["status"] == "fail" else 0
