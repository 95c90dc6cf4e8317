"""Command line entry point for the synthetic transaction generator.

    python -m pipelines.generate --output_dir out/data [--seed 42] [--customers 2000]
        [--days 30] [--start 2026-10-01] [--fraud_rate 0.02] [--malformed_rate 0.005]
        [--feedback_delay_days 7] [--archive_dir DIR]

Writes ``events.jsonl``, ``labels.jsonl``, ``blacklist.csv`` and ``feedback.jsonl`` (each
fraud reported ``--feedback_delay_days`` later, 7 by default) into ``--output_dir`` (see
:mod:`pipelines.synthetic`) and prints a one-line JSON summary of what was generated.
``--archive_dir`` also writes the events as an archive of one folder per day
(``DIR/date=YYYY-MM-DD/events.jsonl``), what the fraud_backfill DAG reads. A mistake (a value
out of its range, a folder that cannot be written) ends it with one line on stderr and exit 2.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pipelines.cli import CommandError, OneLineParser, Range, day, os_error_reason, run_command
from pipelines.synthetic import GeneratorConfig, generate_dataset
from pipelines.synthetic.archive import archive_file, write_feedback_archive
from pipelines.synthetic.dataset import WORLDS
from pipelines.synthetic.files import DEFAULT_FEEDBACK_DELAY_DAYS

TOOL = "pipelines.generate"
SEEDS = Range(int, low=0, high=2**32 - 1)
CUSTOMERS = Range(int, low=1, high=1_000_000)
DAYS = Range(int, low=1, high=3660)
# GeneratorConfig's own bounds: [0, 0.5).
RATES = Range(float, low=0, below=0.5)
FEEDBACK_DELAY_DAYS = Range(float, low=0, high=365)


def build_parser() -> OneLineParser:
    defaults = GeneratorConfig()
    parser = OneLineParser(
        prog=f"python -m {TOOL}",
        description="Generate a seeded, reproducible synthetic card-transaction dataset.",
    )
    parser.add_argument("--output_dir", required=True, help="directory to write the files into")
    parser.add_argument("--seed", type=SEEDS, default=defaults.seed)
    parser.add_argument("--customers", type=CUSTOMERS, default=defaults.customers)
    parser.add_argument("--days", type=DAYS, default=defaults.days)
    parser.add_argument(
        "--start",
        type=day,
        default=defaults.start,
        help="first day (YYYY-MM-DD, business time)",
    )
    parser.add_argument("--fraud_rate", type=RATES, default=defaults.fraud_rate)
    parser.add_argument("--malformed_rate", type=RATES, default=defaults.malformed_rate)
    parser.add_argument(
        "--world",
        choices=WORLDS,
        default=defaults.world,
        help="'rules': every fraud shaped after one rule, legitimate spending that trips none; "
        "'handbook': realistic spending plus compromised stores and leaked cards",
    )
    parser.add_argument(
        "--feedback_delay_days",
        type=FEEDBACK_DELAY_DAYS,
        default=DEFAULT_FEEDBACK_DELAY_DAYS,
        help="how long after a fraud its chargeback is reported (feedback.jsonl)",
    )
    parser.add_argument("--archive_dir", help="also write the events as a per-day archive here")
    parser.add_argument(
        "--feedback_archive_dir",
        help="also write the feedback as a per-day archive here (by the day it was reported)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(TOOL, lambda: generate(argv))


def generate(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        paths = generate_dataset(
            args.output_dir,
            seed=args.seed,
            customers=args.customers,
            days=args.days,
            start=args.start,
            fraud_rate=args.fraud_rate,
            malformed_rate=args.malformed_rate,
            feedback_delay_days=args.feedback_delay_days,
            world=args.world,
        )
        counts: dict[str, object] = dict(paths.counts)
        if args.archive_dir:
            counts["archived_days"] = len(archive_file(paths.events, args.archive_dir))
        if args.feedback_archive_dir:
            lines = Path(paths.feedback).read_bytes().splitlines()
            counts["feedback_archived_days"] = len(
                write_feedback_archive(lines, args.feedback_archive_dir)
            )
    except ValueError as error:  # a combination of values the generator refuses
        raise CommandError(str(error)) from None
    except OSError as error:  # a folder that cannot be written
        raise CommandError(f"cannot write {os_error_reason(error)}") from None
    print(json.dumps(counts, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
