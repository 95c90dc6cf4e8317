"""Detection quality of rules only, the anomaly model only, and their blend, on labelled data.

    python -m ml.evaluate --output_dir out [--labels_file out/input/labels.jsonl]
    python -m ml.evaluate --protocol --data DIR --output_dir eval [--train_from ...]

``--protocol`` runs the field's protocol instead (train window, delay, test week; with and
without feedback; per pattern; PNG plots): :mod:`ml.protocol`.

Reads the scored transactions a pipeline run wrote (``scored-*.jsonl``: each carries
``rule_score``, ``ml_score`` and the blended ``fraud_score``) and the generator's labels, and
prints one table per score: AUC ROC, average precision, precision and recall at the alert
threshold, and card precision@100 per day. The last is what a fraud team lives by: each day,
investigators check the 100 cards (customers) with the highest score that day; it is the
share of those that really had fraud that day, with cards already caught on an earlier day
left out, averaged over days.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sklearn.metrics import average_precision_score, roc_auc_score

from transforms.domain.config import default_rules, rules_from_text

CARDS_PER_DAY = 100


@dataclass(frozen=True, slots=True)
class Scored:
    customer_id: str
    day: str
    is_fraud: bool
    scores: dict[str, float | None]
    pattern: str | None = None


def load_scored(output_dir: str, labels_file: str) -> list[Scored]:
    with open(labels_file, encoding="utf-8") as handle:
        labels = {row["transaction_id"]: row for row in map(json.loads, handle)}
    rows: list[Scored] = []
    for path in sorted(glob.glob(os.path.join(output_dir, "scored-*.jsonl"))):
        with open(path, encoding="utf-8") as handle:
            for record in map(json.loads, handle):
                label = labels.get(record["transaction_id"])
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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", default="out", help="A pipeline run's output folder.")
    parser.add_argument("--labels_file", help="Default: <output_dir>/input/labels.jsonl")
    parser.add_argument("--rules", help="The rules YAML the run used (for the thresholds).")
    protocol = parser.add_argument_group("--protocol: train, delay, test (ml.protocol)")
    protocol.add_argument("--protocol", action="store_true")
    protocol.add_argument("--data", help="A generated data set's folder (pipelines.generate).")
    protocol.add_argument("--train_from", type=date.fromisoformat, default=date(2026, 10, 1))
    protocol.add_argument("--train_days", type=int, default=16)
    protocol.add_argument("--delay_days", type=int, default=7)
    protocol.add_argument("--test_days", type=int, default=7)
    protocol.add_argument(
        "--model",
        help="The anomaly model of the runs (default: models/default if present; empty: none).",
    )
    args = parser.parse_args(argv)
    if args.protocol:
        _protocol(parser, args)
        return
    # A local tool, like the output files it reads: the rules file is local too.
    rules = rules_from_text(Path(args.rules).read_text("utf-8")) if args.rules else default_rules()
    labels = args.labels_file or os.path.join(args.output_dir, "input", "labels.jsonl")
    rows = load_scored(args.output_dir, labels)
    thresholds = {
        "rules only": rules.alert_threshold,
        "ML only": rules.ml_threshold,
        "blend": rules.alert_threshold,
    }
    print(json.dumps(evaluate(rows, thresholds), indent=2))


def _protocol(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from ml.protocol import Windows, run_protocol
    from pipelines.options import DEFAULT_MODEL_DIR

    if not args.data:
        parser.error("--protocol needs --data")
    model = args.model  # "" asks for rules only
    if model is None and os.path.exists(os.path.join(DEFAULT_MODEL_DIR, "metadata.json")):
        model = DEFAULT_MODEL_DIR
    windows = Windows(args.train_from, args.train_days, args.delay_days, args.test_days)
    report = run_protocol(args.data, args.output_dir, windows, model or None)
    summary = {
        name: {
            key: scores.get(key)
            for key in ("auc_roc", "average_precision", "card_precision_at_100")
        }
        for name, scores in report["scorers"].items()
    }
    print(json.dumps({"windows": report["windows"], "scorers": summary}, indent=2))


if __name__ == "__main__":
    main()
