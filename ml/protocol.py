"""The field's evaluation protocol: train on a window, wait out the reporting delay, test the
week after, as the Fraud-Detection-Handbook does.

    python -m ml.evaluate --protocol --data DIR --output_dir eval \\
        [--train_from 2026-10-01 --train_days 16 --delay_days 7 --test_days 7]

``DIR`` holds a generated data set (``pipelines.generate``: events, labels, blacklist,
feedback). The pipeline scores all of it three times on FnApiRunner: without feedback, with
it, and with it plus a supervised model trained (``ml.supervised``) on the training window's
scored records, labelled with what the feedback said by the end of the delay, the moment a
team would train. Every scorer is then measured on the test window only: AUC, average
precision and card precision@100 per day (cards caught on an earlier day left out), overall
and for each fraud pattern against all genuine transactions, so that no pattern hides
another. Writes ``report.json``, ``precision_recall.png`` (one curve per scorer) and
``card_precision.png`` (the daily card precision) into ``--output_dir``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from ml.evaluate import Scored, card_precision_by_day, load_scored

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


def _instant(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def score_runs(
    data_dir: str, output_dir: str, windows: Windows, model: str | None
) -> dict[str, str]:
    """The three pipeline runs; returns each run's output folder."""
    from ml.supervised import train_supervised
    from pipelines.fraud import run

    files = {name: os.path.join(data_dir, f"{name}.jsonl") for name in ("events", "feedback")}
    base = [
        f"--input={files['events']}",
        f"--blacklist={os.path.join(data_dir, 'blacklist.csv')}",
        f"--labels_file={os.path.join(data_dir, 'labels.jsonl')}",
    ]
    anomaly = [f"--model={model}"] if model else ["--no_model"]
    runs = {name: os.path.join(output_dir, "runs", name) for name in ("no_feedback", "feedback")}
    run([*base, *anomaly, f"--output_dir={runs['no_feedback']}"])
    feedback = [f"--feedback={files['feedback']}"]
    run([*base, *anomaly, *feedback, f"--output_dir={runs['feedback']}"])
    supervised_model = os.path.join(output_dir, "supervised_model")
    train_supervised(
        supervised_model,
        [os.path.join(runs["feedback"], "scored-*.jsonl")],
        [files["feedback"]],
        train_from=_instant(windows.train_from),
        train_until=_instant(windows.train_until),
        labels_at=_instant(windows.test_from),
    )
    runs["supervised"] = os.path.join(output_dir, "runs", "supervised")
    run([*base, *feedback, f"--model={supervised_model}", f"--output_dir={runs['supervised']}"])
    return runs


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


def run_protocol(
    data_dir: str, output_dir: str, windows: Windows, model: str | None
) -> dict[str, Any]:
    runs = score_runs(data_dir, output_dir, windows, model)
    labels = os.path.join(data_dir, "labels.jsonl")
    test_rows = {
        name: [row for row in load_scored(path, labels) if windows.in_test(row.day)]
        for name, path in runs.items()
    }
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
