"""Train the default anomaly model on generated history: ``python -m pipelines.train_default``.

    python -m pipelines.train_default [--output_dir models/default] \\
        [--seed 42 --customers 2000 --days 30]

The project's generator (``pipelines.synthetic``) builds labelled history in memory;
``ml.replay`` runs it through the pipeline's domain code and ``ml.train`` fits, calibrates and
writes the Isolation Forest exactly as it does for archived events (``python -m ml.train
--events``), its metadata naming the generator, its parameters and how many fraud rows the
history held. The launcher's embedded default run trains ``models/default`` this way the first
time. It lives here, not in ``ml``, because ``ml`` is a library that imports nothing above the
domain, and this runs the generator. A mistake is one line on stderr,
``pipelines.train_default: <reason>``, and a non-zero exit status.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from ml.artifact import ArtifactPaths
from ml.cli import CommandParser, run_command
from ml.defaults import DEFAULT_MODEL_DIR
from ml.replay import Replay, blacklist_from_entries, replay
from ml.train import fit_and_write
from pipelines.synthetic import GeneratorConfig, SyntheticDataset, generate_events
from transforms.domain.config import default_rules
from transforms.domain.event_time import DEFAULT_BUSINESS_TIMEZONE, business_timezone

__all__ = ["generated_history", "main", "train_model"]


def generated_history(config: GeneratorConfig) -> tuple[SyntheticDataset, Replay]:
    """A generated data set, and the features and rule scores the pipeline's detector gives
    its events under the default rules: what training sees."""
    dataset = generate_events(config)
    history = replay(
        dataset.lines,
        blacklist_from_entries(dataset.blacklist),
        default_rules(),
        business_timezone(DEFAULT_BUSINESS_TIMEZONE),
    )
    return dataset, history


def train_model(
    output_dir: str, *, seed: int = 42, customers: int = 2000, days: int = 30
) -> ArtifactPaths:
    """Generate, replay, fit, calibrate, and write the artifact into ``output_dir``."""
    dataset, history = generated_history(GeneratorConfig(seed=seed, customers=customers, days=days))
    fraud = {label["transaction_id"] for label in dataset.labels if label["is_fraud"]}
    training = {
        "generator": "pipelines.synthetic",
        "seed": seed,
        "customers": customers,
        "days": days,
        "fraud_rows": sum(transaction_id in fraud for transaction_id in history.transaction_ids),
    }
    return fit_and_write(output_dir, history, seed, training)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


_positive.__name__ = "positive integer"  # argparse names the type in its message


def _main(argv: Sequence[str] | None) -> None:
    parser = CommandParser(
        prog="pipelines.train_default",
        description="Train the default anomaly model on generated history.",
    )
    parser.add_argument(
        "--output_dir", default=DEFAULT_MODEL_DIR, help="artifact folder to (over)write"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--customers", type=_positive, default=2000)
    parser.add_argument("--days", type=_positive, default=30)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    paths = train_model(args.output_dir, seed=args.seed, customers=args.customers, days=args.days)
    seconds = time.perf_counter() - started
    print(f"Wrote {paths.model_version} to {paths.directory} in {seconds:.1f} s", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("pipelines.train_default", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
