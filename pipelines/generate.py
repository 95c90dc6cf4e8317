"""Command line entry point for the synthetic transaction generator.

    python -m pipelines.generate --output_dir out/data [--seed 42] [--customers 2000]
        [--days 30] [--start 2026-10-01] [--fraud_rate 0.02] [--malformed_rate 0.005]

Writes ``events.jsonl``, ``labels.jsonl`` and ``blacklist.csv`` into
``--output_dir`` (see :mod:`pipelines.synthetic`) and prints a one-line
JSON summary of what was generated.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import date

from pipelines.synthetic import GeneratorConfig, generate_dataset


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
        )
    except ValueError as exc:  # invalid knob values: report like argparse does
        parser.error(str(exc))
    print(json.dumps(paths.counts, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
