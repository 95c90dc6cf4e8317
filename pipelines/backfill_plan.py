"""A backfill's plan: ``python -m pipelines.backfill_plan --archive URI --start DAY --end DAY``.

Prints, as one JSON document, the options of the ``pipelines.fraud`` run that rescores the days
[start, end] of an archive laid out one folder per UTC day (``URI/date=YYYY-MM-DD/*.jsonl``, any
Beam file system): the range's files (``--input``), the files of the warm-up days before it
(``--warmup_input``: read, never emitted), ``--emit_from`` at the range's first instant, and
the archive and reference data as absolute locations (the run may start in another working
directory, as Airflow's Beam operator starts it). With ``--feedback_archive`` (confirmed
outcomes, one folder per day they were reported), the reports of the warm-up and range days
(``--feedback``), so that a backfilled day scores as the live run, fed the same chargebacks,
scored it. With ``--rules_changes`` (the registry, as ``python -m pipelines.rules export`` writes
it), each event is scored by the rules version the live job used at its time.

The warm-up is the rules' longest look-back: ``inactivity_days``, after which a customer's
history is forgotten (``--warmup_days`` overrides it). It makes a backfilled day score as the
live run scored it for every customer whose history began inside the warm-up or who paused
for ``inactivity_days``; the running statistics (amounts, usual hours) of a customer active
throughout a longer archive start at the warm-up's first day instead. A day of the range with
no file stops the plan; a warm-up day without one is skipped (the archive starts later).

A plan that cannot be made (a day missing from the archive, unreadable rules, a value out of
its range) ends with one line on stderr and exit 2: the fraud_backfill DAG fails without retry.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipelines.cli import CommandError, OneLineParser, Range, day, os_error_reason, run_command
from transforms.domain.store_risk import WINDOW_DAYS
from transforms.read import read_rules


def day_pattern(archive: str, day: date) -> str:
    pattern: str = FileSystems.join(archive, f"date={day.isoformat()}", "*.jsonl")
    return pattern


def has_files(pattern: str) -> bool:
    (matched,) = FileSystems.match([pattern])
    return bool(matched.metadata_list)


def absolute(location: str | None) -> str | None:
    """A local path made absolute; a URI of another file system as it is."""
    if not location or "://" in location:
        return location
    return os.path.abspath(location)


def plan(
    archive: str,
    start: date,
    end: date,
    *,
    warmup_days: int | None = None,
    rules: str | None = None,
    model: str | None = None,
    blacklist: str | None = None,
    feedback_archive: str | None = None,
    rules_changes: str | None = None,
    output_dir: str,
) -> dict[str, Any]:
    archive = absolute(archive) or archive
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    if warmup_days is None:
        warmup_days = math.ceil(read_rules(absolute(rules)).inactivity_days)
    range_days = [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
    missing = [day.isoformat() for day in range_days if not has_files(day_pattern(archive, day))]
    if missing:
        raise ValueError(f"no archived events for {', '.join(missing)} under {archive}")
    warmup = [start - timedelta(days=offset) for offset in range(warmup_days, 0, -1)]
    warmup_found = [day for day in warmup if has_files(day_pattern(archive, day))]
    options: dict[str, Any] = {
        "input": [day_pattern(archive, day) for day in range_days],
        "emit_from": f"{start.isoformat()}T00:00:00+00:00",
        "output_dir": absolute(output_dir),
    }
    if warmup_found:
        options["warmup_input"] = [day_pattern(archive, day) for day in warmup_found]
    if feedback_archive:
        # What was reported during the warm-up and the range: a report counts from its time on,
        # so later ones cannot change the range's scores, and the look-back bounds earlier ones.
        feedback_archive = absolute(feedback_archive) or feedback_archive
        reported = [day_pattern(feedback_archive, day) for day in (*warmup, *range_days)]
        options["feedback"] = [pattern for pattern in reported if has_files(pattern)]
        if not options["feedback"]:
            del options["feedback"]
    for name, location in (("rules", rules), ("blacklist", blacklist)):
        if location:
            options[name] = absolute(location)
    if rules_changes:
        options["rules_changes"] = [absolute(rules_changes)]
    if model == "none":
        options["no_model"] = True
    elif model:
        options["model"] = absolute(model)
    result: dict[str, Any] = {
        "pipeline_options": options,
        "range_days": [day.isoformat() for day in range_days],
        "warmup_days": warmup_days,
        "warmup_days_found": len(warmup_found),
    }
    if warmup_days < max(WINDOW_DAYS):
        # The store windows and FR-008 look back 30 days: a shorter warm-up sees less than the
        # live run saw, whatever the customers' look-back.
        result["warning"] = (
            f"a warm-up of {warmup_days} days is shorter than the {max(WINDOW_DAYS)}-day store "
            "windows: store counts and FR-008 may differ from the live run's"
        )
    return result


def pipeline_argv(options: dict[str, Any]) -> list[str]:
    """``pipelines.fraud``'s command line for a plan's ``pipeline_options``."""
    argv: list[str] = []
    for name, value in options.items():
        if value is True:
            argv.append(f"--{name}")
        elif isinstance(value, list):
            argv += [f"--{name}={item}" for item in value]
        else:
            argv.append(f"--{name}={value}")
    return argv


TOOL = "pipelines.backfill_plan"
# Ten years: a longer warm-up is a typo, and the plan would list a file pattern per day.
WARMUP_DAYS = Range(int, low=0, high=3660)


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog=f"python -m {TOOL}", description=__doc__.splitlines()[0])
    parser.add_argument("--archive", required=True, help="The archive's root (any Beam FS).")
    parser.add_argument("--start", required=True, type=day, help="First day.")
    parser.add_argument("--end", required=True, type=day, help="Last day.")
    parser.add_argument("--output_dir", required=True, help="The run's output folder.")
    parser.add_argument(
        "--warmup_days", type=WARMUP_DAYS, help="0 to 3660; default: the rules' inactivity_days."
    )
    parser.add_argument("--rules", help="Rules YAML (default: the built-in rules).")
    parser.add_argument("--blacklist", help="Blacklist CSV.")
    parser.add_argument(
        "--rules_changes", help="The rules registry (python -m pipelines.rules export)."
    )
    parser.add_argument(
        "--feedback_archive",
        help="Root of the confirmed outcomes archived by report day (date=YYYY-MM-DD folders).",
    )
    parser.add_argument(
        "--model", help="Model folder, or 'none' for rules only (default: the pipeline's)."
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(TOOL, lambda: print_plan(argv))


def print_plan(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = plan(
            args.archive,
            args.start,
            args.end,
            warmup_days=args.warmup_days,
            rules=args.rules,
            model=args.model,
            blacklist=args.blacklist,
            feedback_archive=args.feedback_archive,
            rules_changes=args.rules_changes,
            output_dir=args.output_dir,
        )
    except OSError as error:
        raise CommandError(os_error_reason(error)) from None
    except ValueError as error:
        raise CommandError(str(error)) from None
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
