"""ml.evaluate: the metrics on hand-computed examples."""

from __future__ import annotations

import pytest

from ml.evaluate import Scored, card_precision_at_k, evaluate


def _row(card: str, day: str, fraud: bool, score: float, ml: float | None = None) -> Scored:
    return Scored(card, day, fraud, {"rules only": score, "ML only": ml, "blend": score})


def test_card_precision_ranks_cards_by_their_best_score_of_the_day() -> None:
    rows = [
        _row("a", "d1", True, 0.9),
        _row("a", "d1", False, 0.1),
        _row("b", "d1", False, 0.8),
        _row("c", "d1", True, 0.2),
    ]
    assert card_precision_at_k(rows, "rules only", k=2) == pytest.approx(0.5)  # a (fraud), b


def test_cards_caught_on_an_earlier_day_leave_the_ranking() -> None:
    rows = [
        _row("a", "d1", True, 0.9),
        _row("a", "d2", True, 0.9),
        _row("b", "d2", False, 0.5),
    ]
    # Day 1: a is caught (1.0). Day 2: a is gone, b is the only card left (0.0).
    assert card_precision_at_k(rows, "rules only", k=1) == pytest.approx(0.5)


def test_evaluate_reports_each_score_and_skips_missing_model_scores() -> None:
    rows = [_row("a", "d1", True, 0.9), _row("b", "d1", False, 0.2), _row("c", "d1", False, 0.75)]
    report = evaluate(rows, {"rules only": 0.7, "ML only": 0.6, "blend": 0.7})
    assert report["rules only"]["auc_roc"] == 1.0
    assert report["rules only"]["precision"] == 0.5
    assert report["rules only"]["recall"] == 1.0
    assert report["ML only"] == {"events": 0, "note": "no scores or a single class"}
