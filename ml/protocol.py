"""The field's evaluation protocol, measured: train on a window, wait out the reporting delay,
test the week after, as the Fraud-Detection-Handbook does.

The runs themselves (the pipeline scoring a data set without feedback, with it, and with a
supervised model trained on the training window) are an entry point's job:
``python -m pipelines.evaluate_protocol``. This module is the library it calls: the windows,
the scorers, and :func:`write_report`, which measures every scorer on the test window only
(AUC, average precision and card precision@100 per day, cards caught on an earlier day left
out), overall and for each fraud pattern against all genuine transactions, so that no pattern
hides another, and writes ``report.json``, ``precision_recall.png`` (one curve per scorer) and
``card_precision.png`` (the daily card precision).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from ml.evaluate import Scored, card_precision_by_day

# Scorer name: (which run, which score of its records).
SCORERS: dict[str, tuple[str, str]] = {
    "rules": ("no_feedback", "rules only"),
    "isolation forest": ("no_feedback", "ML only"),
    "rules + isolation forest": ("no_feedback", "blend"),
    "rules with feedback": ("feedback", "rules only"),
    "rules with feedback + isolation forest": ("feedback", "blend"),
    "supervised model": ("supervised", "ML only"),
    "rules with feedback + supervised model": ("supervised", "blend"),
}


@dataclass(frozen=True, slots=True)
class Windows:
    train_from: date
    train_days: int
    delay_days: int
    test_days: int

    @property
    def train_until(self) -> date:
        return self.train_from + timedelta(days=self.train_days)

    @property
    def test_from(self) -> date:
        return self.train_until + timedelta(days=self.delay_days)

    @property
    def test_until(self) -> date:
        return self.test_from + timedelta(days=self.test_days)

    def in_test(self, day: str) -> bool:
        return self.test_from.isoformat() <= day < self.test_until.isoformat()


def instant(day: date) -> str:
    """The first instant of ``day``, UTC, as the commands take it."""
    return f"{day.isoformat()}T00:00:00Z"


def measure(rows: Sequence[Scored], score: str) -> dict[str, Any]:
    scored = [(row.scores[score], row.is_fraud) for row in rows if row.scores[score] is not None]
    truth = [fraud for _, fraud in scored]
    values = [float(value) for value, _ in scored if value is not None]
    if len(set(truth)) < 2:
        return {"events": len(scored), "note": "no scores or a single class"}
    daily = card_precision_by_day(rows, score)
    return {
        "events": len(scored),
        "frauds": sum(truth),
        "auc_roc": round(float(roc_auc_score(truth, values)), 4),
        "average_precision": round(float(average_precision_score(truth, values)), 4),
        "card_precision_at_100": round(sum(daily.values()) / len(daily), 4),
        "card_precision_at_100_by_day": {day: round(p, 4) for day, p in daily.items()},
    }


def by_pattern(rows: Sequence[Scored], score: str) -> dict[str, dict[str, Any]]:
    """Average precision of each pattern's frauds against every genuine transaction."""
    patterns = sorted({row.pattern for row in rows if row.is_fraud and row.pattern})
    report = {}
    for pattern in patterns:
        subset = [row for row in rows if not row.is_fraud or row.pattern == pattern]
        measured = measure(subset, score)
        report[pattern] = {
            key: measured.get(key) for key in ("frauds", "auc_roc", "average_precision")
        }
    return report


def write_report(
    test_rows: Mapping[str, Sequence[Scored]], windows: Windows, output_dir: str
) -> dict[str, Any]:
    """Measure every scorer on its run's rows of the test window (``test_rows``, by run name),
    write the report and the pictures into ``output_dir``, and return the report."""
    report: dict[str, Any] = {
        "windows": {
            "train": [windows.train_from.isoformat(), windows.train_until.isoformat()],
            "labels_known_at": windows.test_from.isoformat(),
            "test": [windows.test_from.isoformat(), windows.test_until.isoformat()],
        },
        "scorers": {},
    }
    curves: dict[str, tuple[Any, Any]] = {}
    daily: dict[str, dict[str, float]] = {}
    for scorer, (run_name, score) in SCORERS.items():
        rows = test_rows[run_name]
        measured = measure(rows, score)
        if "note" in measured:
            report["scorers"][scorer] = measured
            continue
        measured["by_pattern"] = by_pattern(rows, score)
        report["scorers"][scorer] = measured
        scored = [
            (row.scores[score], row.is_fraud) for row in rows if row.scores[score] is not None
        ]
        precision, recall, _ = precision_recall_curve(
            [fraud for _, fraud in scored], [float(value or 0.0) for value, _ in scored]
        )
        curves[scorer] = (recall, precision)
        daily[scorer] = measured["card_precision_at_100_by_day"]
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "report.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2, sort_keys=True)
    from ml.plots import plot_card_precision, plot_precision_recall

    plot_precision_recall(curves, os.path.join(output_dir, "precision_recall.png"))
    plot_card_precision(daily, os.path.join(output_dir, "card_precision.png"))
    return report
