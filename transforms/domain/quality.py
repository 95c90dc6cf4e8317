"""Detection quality against labels: precision, recall, F1 at the alert threshold and
average precision of the fraud score.

Scores are counted per distinct value (rounded to 6 decimals, as they are emitted), so the
tally is small, mergeable across workers, and average precision is exact: tied scores form
one threshold, as in scikit-learn's ``average_precision_score``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class QualityTally:
    # score -> number of labelled-fraud / labelled-legit events with that score
    fraud_by_score: Counter[float] = field(default_factory=Counter)
    legit_by_score: Counter[float] = field(default_factory=Counter)
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    unlabelled: int = 0
    # pattern -> [labelled events, alerted events]
    by_pattern: dict[str, list[int]] = field(default_factory=dict)

    def add(self, score: float, is_alert: bool, label: dict[str, Any] | None) -> None:
        if label is None:
            self.unlabelled += 1
            return
        is_fraud = bool(label.get("is_fraud"))
        (self.fraud_by_score if is_fraud else self.legit_by_score)[score] += 1
        if is_fraud and is_alert:
            self.true_positives += 1
        elif is_alert:
            self.false_positives += 1
        elif is_fraud:
            self.false_negatives += 1
        if is_fraud:
            pattern = self.by_pattern.setdefault(str(label.get("pattern") or "unknown"), [0, 0])
            pattern[0] += 1
            pattern[1] += int(is_alert)

    def merge(self, other: QualityTally) -> None:
        self.fraud_by_score.update(other.fraud_by_score)
        self.legit_by_score.update(other.legit_by_score)
        self.true_positives += other.true_positives
        self.false_positives += other.false_positives
        self.false_negatives += other.false_negatives
        self.unlabelled += other.unlabelled
        for name, (total, alerted) in other.by_pattern.items():
            mine = self.by_pattern.setdefault(name, [0, 0])
            mine[0] += total
            mine[1] += alerted

    def report(self) -> dict[str, Any]:
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "labelled": tp + fn + sum(self.legit_by_score.values()),
            "labelled_fraud": tp + fn,
            "unlabelled": self.unlabelled,
            "true_positives": tp,
            "false_positives": fp,
            "false_negatives": fn,
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "average_precision": round(average_precision(self), 4),
            "recall_by_pattern": {
                name: round(alerted / total, 4) if total else 0.0
                for name, (total, alerted) in sorted(self.by_pattern.items())
            },
        }


def average_precision(tally: QualityTally) -> float:
    """Sum over descending score thresholds of (recall gain) x (precision at that threshold)."""
    total_fraud = sum(tally.fraud_by_score.values())
    if total_fraud == 0:
        return 0.0
    scores = sorted(set(tally.fraud_by_score) | set(tally.legit_by_score), reverse=True)
    caught = flagged = 0
    area = 0.0
    for score in scores:
        fraud_here = tally.fraud_by_score.get(score, 0)
        caught += fraud_here
        flagged += fraud_here + tally.legit_by_score.get(score, 0)
        area += (fraud_here / total_fraud) * (caught / flagged)
    return area
