"""The evaluation protocol's pictures (``ml.protocol``), drawn with matplotlib off screen."""

from __future__ import annotations

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
