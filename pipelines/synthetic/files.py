"""The data set as files: ``events.jsonl``, ``labels.jsonl``, ``blacklist.csv`` and
``feedback.jsonl`` (the fraud as chargebacks report it, days later)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from pipelines.synthetic.dataset import GeneratorConfig, SyntheticDataset, generate_events
from pipelines.synthetic.feedback import feedback_lines, feedback_records
from pipelines.synthetic.rendering import dumps

# Chargebacks reach the fraud team about a week after the transaction.
DEFAULT_FEEDBACK_DELAY_DAYS = 7.0


@dataclass(frozen=True, slots=True)
class DatasetPaths:
    """Where :func:`generate_dataset` wrote its files, plus the summary counts."""

    events: str
    labels: str
    blacklist: str
    counts: dict[str, int]
    feedback: str = ""


def write_dataset(
    dataset: SyntheticDataset,
    output_dir: str,
    feedback_delay_days: float = DEFAULT_FEEDBACK_DELAY_DAYS,
    seed: int = 0,
) -> DatasetPaths:
    """Write ``events.jsonl``, ``labels.jsonl``, ``blacklist.csv`` and ``feedback.jsonl``
    (fraud reported ``feedback_delay_days`` after it happened) into ``output_dir``."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    events, labels, blacklist = out / "events.jsonl", out / "labels.jsonl", out / "blacklist.csv"
    # Binary mode: some malformed lines are deliberately not valid UTF-8.
    events.write_bytes(b"".join(line + b"\n" for line in dataset.lines))
    labels.write_bytes(b"".join(dumps(label) + b"\n" for label in dataset.labels))
    rows = [f"{entry.kind},{entry.id}\n" for entry in dataset.blacklist]
    blacklist.write_bytes(("kind,id\n" + "".join(rows)).encode())
    feedback = out / "feedback.jsonl"
    reports = feedback_records(dataset.lines, dataset.labels, feedback_delay_days, seed)
    feedback.write_bytes(feedback_lines(reports))
    counts = {**dataset.counts, "feedback": len(reports)}
    return DatasetPaths(str(events), str(labels), str(blacklist), counts, str(feedback))


def generate_dataset(
    output_dir: str,
    *,
    seed: int = 42,
    customers: int = 2000,
    days: int = 30,
    start: date = date(2026, 10, 1),
    fraud_rate: float = 0.02,
    malformed_rate: float = 0.005,
    feedback_delay_days: float = DEFAULT_FEEDBACK_DELAY_DAYS,
    world: Literal["rules", "handbook"] = "rules",
) -> DatasetPaths:
    """Generate the dataset for these parameters and write it to ``output_dir``."""
    config = GeneratorConfig(seed, customers, days, start, fraud_rate, malformed_rate, world)
    return write_dataset(generate_events(config), output_dir, feedback_delay_days, seed)
