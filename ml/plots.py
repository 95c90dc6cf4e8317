"""The evaluation protocol's (``ml.protocol``) and a backtest's (``ml.backtest``) pictures, drawn
with matplotlib off screen."""

from __future__ import annotations

import os
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server or in CI
    import matplotlib.pyplot as plt

    return plt


def plot_precision_recall(curves: dict[str, tuple[Any, Any]], path: str) -> None:
    """One precision-recall curve per scorer: ``{name: (recall, precision)}``."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 6), dpi=100)
    for name, (recall, precision) in curves.items():
        axes.plot(recall, precision, label=name, linewidth=1.5)
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    axes.set_title("Precision-recall on the test week")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_card_precision(daily: dict[str, dict[str, float]], path: str) -> None:
    """Card precision@100 per test day, one line per scorer: ``{name: {day: precision}}``."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 5), dpi=100)
    for name, by_day in daily.items():
        days = sorted(by_day)
        axes.plot([day[5:] for day in days], [by_day[day] for day in days], marker="o", label=name)
    axes.set(xlabel="day", ylabel="card precision@100", ylim=(0, 1))
    axes.set_title("Card precision@100 per day (cards caught earlier left out)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_backtest(report: dict[str, Any], output_dir: str) -> list[str]:
    """Alerts per day and each rule's firings, champion beside candidate; the files written."""
    plt = _pyplot()
    written = []
    days = sorted(
        set(report["champion"]["alerts_per_day"]) | set(report["candidate"]["alerts_per_day"])
    )
    figure, axis = plt.subplots(figsize=(8, 4))
    for name in ("champion", "candidate"):
        per_day = report[name]["alerts_per_day"]
        axis.plot(days, [per_day.get(day, 0) for day in days], marker="o", label=name)
    axis.set_title("Alerts per day")
    axis.set_ylabel("alerts")
    axis.legend()
    figure.autofmt_xdate()
    path = os.path.join(output_dir, "alerts_per_day.png")
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    written.append(path)
    rules = sorted(set(report["champion"]["by_rule"]) | set(report["candidate"]["by_rule"]))
    figure, axis = plt.subplots(figsize=(8, 4))
    width = 0.4
    for offset, name in ((-width / 2, "champion"), (width / 2, "candidate")):
        by_rule = report[name]["by_rule"]
        axis.bar(
            [i + offset for i in range(len(rules))],
            [by_rule.get(rule, {}).get("firings", 0) for rule in rules],
            width,
            label=name,
        )
    axis.set_xticks(range(len(rules)), rules)
    axis.set_title("Firings per rule")
    axis.legend()
    path = os.path.join(output_dir, "firings_per_rule.png")
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    written.append(path)
    return written
