"""Command line entry point for the synthetic transaction generator.

    python -m pipelines.generate --output_dir out/data [--seed 42] [--customers 2000]
        [--days 30] [--start 2026-10-01] [--fraud_rate 0.02] [--malformed_rate 0.005]
        [--feedback_delay_days 7] [--archive_dir DIR]

Writes ``events.jsonl``, ``labels.jsonl``, ``blacklist.csv`` and ``feedback.jsonl`` (each
fraud reported ``--feedback_delay_days`` later, 7 by default) into ``--output_dir`` (see
:mod:`pipelines.synthetic`) and prints a one-line JSON summary of what was generated.
``--archive_dir`` also writes the events as an archive of one folder per day
(``DIR/date=YYYY-MM-DD/events.jsonl``), what the fraud_backfill DAG reads.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from pipelines.synthetic import GeneratorConfig, generate_dataset
from pipelines.synthetic.archive import archive_file, write_feedback_archive
from pipelines.synthetic.dataset import WORLDS
from pipelines.synthetic.files import DEFAULT_FEEDBACK_DELAY_DAYS


def build_parser() -> argparse.ArgumentParser:
    defaults = GeneratorConfig()
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.generate",
        description="Generate a seeded, reproducible synthetic card-transaction dataset.",
    )
    parser.add_argument("--output_dir", required=True, help="directory to write the files into")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--customers", type=int, default=defaults.customers)
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        default=defaults.start,
        help="first day (YYYY-MM-DD, business time)",
    )
    parser.add_argument("--fraud_rate", type=float, default=defaults.fraud_rate)
    parser.add_argument("--malformed_rate", type=float, default=defaults.malformed_rate)
    parser.add_argument(
        "--world",
        choices=WORLDS,
        default=defaults.world,
        help="'rules': every fraud shaped after one rule, legitimate spending that trips none; "
        "'handbook': realistic spending plus compromised stores and leaked cards",
    )
    parser.add_argument(
        "--feedback_delay_days",
        type=float,
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
    parser = build_parser()
    args = parser.parse_args(argv)
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
    except ValueError as exc:  # invalid knob values: report like argparse does
        parser.error(str(exc))
    counts: dict[str, object] = dict(paths.counts)
    if args.archive_dir:
        counts["archived_days"] = len(archive_file(paths.events, args.archive_dir))
    if args.feedback_archive_dir:
        lines = Path(paths.feedback).read_bytes().splitlines()
        counts["feedback_archived_days"] = len(
            write_feedback_archive(lines, args.feedback_archive_dir)
        )
    print(json.dumps(counts, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
