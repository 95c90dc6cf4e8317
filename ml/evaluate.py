"""Detection quality of rules only, the anomaly model only, and their blend, on labelled data.

    python -m ml.evaluate --output_dir out [--labels_file out/input/labels.jsonl]
    python -m ml.evaluate --output_dir out --feedback 'feedback/date=*/*.jsonl' [--labels_at T]

The field's protocol (train window, delay, test week; with and without feedback; per pattern;
PNG plots) runs the pipeline, so it is an entry point of its own:
``python -m pipelines.evaluate_protocol``; :mod:`ml.protocol` measures it.

Reads the scored transactions a pipeline run wrote (``scored-*.jsonl``: each carries
``rule_score``, ``ml_score`` and the blended ``fraud_score``) and labels them: with
``--labels_file`` (the generator's ground truth, ``{transaction_id, is_fraud, pattern}``) the
transactions it names; with ``--feedback`` (confirmed outcomes) every transaction, fraud if the
feedback had confirmed it by ``--labels_at`` (default: its latest report) and not withdrawn it,
genuine otherwise, as a team knows it at that moment (``ml.supervised.confirmed_frauds``). It
prints one table per score: AUC ROC, average precision, precision and recall at the alert
threshold, and card precision@100 per day. The last is what a fraud team lives by: each day,
investigators check the 100 cards (customers) with the highest score that day; it is the
share of those that really had fraud that day, with cards already caught on an earlier day
left out, averaged over days. A score without both classes among its labelled records is
reported as ``{"events": n, "note": "no scores or a single class"}``. A mistake (a missing
file, a bad time) is one line on stderr, ``ml.evaluate: <reason>``, and a non-zero exit.
"""

from __future__ import annotations

import argparse
import errno
import glob
import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sklearn.metrics import average_precision_score, roc_auc_score

from ml.cli import CommandParser, run_command
from ml.supervised import confirmed_frauds, read_lines
from transforms.domain.config import default_rules, rules_from_text
from transforms.domain.event_time import parse_timestamp

CARDS_PER_DAY = 100


@dataclass(frozen=True, slots=True)
class Scored:
    customer_id: str
    day: str
    is_fraud: bool
    scores: dict[str, float | None]
    pattern: str | None = None


def load_scored(output_dir: str, labels_file: str) -> list[Scored]:
    """The run's scored records that the labels file names, labelled by it."""
    with open(labels_file, encoding="utf-8") as handle:
        labels = {row["transaction_id"]: row for row in map(json.loads, handle)}
    return scored_rows(output_dir, labels.get)


def load_scored_with_feedback(
    output_dir: str, feedback: Sequence[str], labels_at: str | None
) -> list[Scored]:
    """Every scored record of the run, labelled with what the feedback said by ``labels_at``."""
    at_ms = parse_timestamp(labels_at, None) if labels_at else None
    frauds = confirmed_frauds(read_lines(feedback), at_ms)
    return scored_rows(output_dir, lambda transaction_id: {"is_fraud": transaction_id in frauds})


def scored_rows(output_dir: str, label_of: Callable[[str], dict[str, Any] | None]) -> list[Scored]:
    """The ``scored-*.jsonl`` records of ``output_dir`` that ``label_of`` labels."""
    paths = sorted(glob.glob(os.path.join(output_dir, "scored-*.jsonl")))
    if not paths:
        raise FileNotFoundError(
            errno.ENOENT, "no scored-*.jsonl (not a pipeline run's output?)", output_dir
        )
    rows: list[Scored] = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for record in map(json.loads, handle):
                label = label_of(record["transaction_id"])
                if label is None:
                    continue
                rows.append(
                    Scored(
                        customer_id=record["customer_id"],
                        day=record["event_time"][:10],
                        is_fraud=bool(label["is_fraud"]),
                        scores={
                            "rules only": record["rule_score"],
                            "ML only": record["ml_score"],
                            "blend": record["fraud_score"],
                        },
                        pattern=label.get("pattern"),
                    )
                )
    return rows


def card_precision_at_k(rows: Iterable[Scored], score_name: str, k: int = CARDS_PER_DAY) -> float:
    daily = card_precision_by_day(rows, score_name, k)
    return sum(daily.values()) / len(daily) if daily else 0.0


def card_precision_by_day(
    rows: Iterable[Scored], score_name: str, k: int = CARDS_PER_DAY
) -> dict[str, float]:
    """Each day's share of frauds among its ``k`` best-scored cards, the cards caught on an
    earlier day left out."""
    by_day: dict[str, dict[str, tuple[float, bool]]] = defaultdict(dict)
    for row in rows:
        score = row.scores[score_name]
        if score is None:
            continue
        best, fraud = by_day[row.day].get(row.customer_id, (-1.0, False))
        by_day[row.day][row.customer_id] = (max(best, score), fraud or row.is_fraud)
    caught: set[str] = set()
    precisions: dict[str, float] = {}
    for day in sorted(by_day):
        cards = [(s, c, f) for c, (s, f) in by_day[day].items() if c not in caught]
        # Ties broken by card id, so the figure is reproducible.
        top = sorted(cards, key=lambda item: (-item[0], item[1]))[:k]
        if not top:
            continue
        precisions[day] = sum(fraud for _, _, fraud in top) / len(top)
        caught.update(card for _, card, fraud in top if fraud)
    return precisions


def evaluate(rows: Sequence[Scored], thresholds: dict[str, float]) -> dict[str, dict[str, Any]]:
    report: dict[str, dict[str, Any]] = {}
    for name, threshold in thresholds.items():
        scored = [(row.scores[name], row.is_fraud) for row in rows if row.scores[name] is not None]
        if not scored or len({fraud for _, fraud in scored}) < 2:
            report[name] = {"events": len(scored), "note": "no scores or a single class"}
            continue
        scores = [float(s) for s, _ in scored if s is not None]
        truth = [fraud for _, fraud in scored]
        flagged = [s >= threshold for s in scores]
        true_positives = sum(f and t for f, t in zip(flagged, truth, strict=True))
        report[name] = {
            "events": len(scored),
            "auc_roc": round(float(roc_auc_score(truth, scores)), 4),
            "average_precision": round(float(average_precision_score(truth, scores)), 4),
            "threshold": threshold,
            "precision": round(true_positives / max(1, sum(flagged)), 4),
            "recall": round(true_positives / max(1, sum(truth)), 4),
            "card_precision_at_100": round(card_precision_at_k(rows, name), 4),
        }
    return report


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("ml.evaluate", _main, argv)


def _main(argv: Sequence[str] | None) -> None:
    parser = CommandParser(prog="ml.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", default="out", help="A pipeline run's output folder.")
    labels = parser.add_mutually_exclusive_group()
    labels.add_argument("--labels_file", help="Default: <output_dir>/input/labels.jsonl")
    labels.add_argument(
        "--feedback",
        action="append",
        help="Label with confirmed outcomes instead, JSONL (glob, repeatable).",
    )
    parser.add_argument(
        "--labels_at", help="With --feedback: what it said by this instant (ISO-8601)."
    )
    parser.add_argument("--rules", help="The rules YAML the run used (for the thresholds).")
    # Kept so that the old spelling gets a pointer rather than "unrecognized arguments".
    parser.add_argument("--protocol", action="store_true", help=argparse.SUPPRESS)
    args, unknown = parser.parse_known_args(argv)
    if args.protocol:
        parser.error("the protocol runs the pipeline: python -m pipelines.evaluate_protocol")
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.labels_at and not args.feedback:
        parser.error("--labels_at needs --feedback")
    # A local tool, like the output files it reads: the rules file is local too.
    rules = rules_from_text(Path(args.rules).read_text("utf-8")) if args.rules else default_rules()
    if args.feedback:
        rows = load_scored_with_feedback(args.output_dir, args.feedback, args.labels_at)
    else:
        labels_file = args.labels_file or os.path.join(args.output_dir, "input", "labels.jsonl")
        rows = load_scored(args.output_dir, labels_file)
    thresholds = {
        "rules only": rules.alert_threshold,
        "ML only": rules.ml_threshold,
        "blend": rules.alert_threshold,
    }
    print(json.dumps(evaluate(rows, thresholds), indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
