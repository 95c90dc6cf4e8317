"""ml.evaluate: the metrics on hand-computed examples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ml.evaluate import Scored, card_precision_at_k, evaluate, main


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


ROWS = [
    ("t1", "a", True, 0.9, 0.8, 0.87),
    ("t2", "b", False, 0.1, 0.2, 0.13),
    ("t3", "c", False, 0.0, 0.7, 0.21),
    ("t4", "d", True, 0.8, None, 0.8),
]


def _write_scored(folder: Path, rows: list[tuple[Any, ...]] | None = None) -> None:
    with open(folder / "scored-00000-of-00001.jsonl", "w", encoding="utf-8") as handle:
        for tid, card, _, rule, ml, blend in ROWS if rows is None else rows:
            record = {
                "transaction_id": tid,
                "customer_id": card,
                "event_time": "2026-10-01T12:00:00.000Z",
                "rule_score": rule,
                "ml_score": ml,
                "fraud_score": blend,
            }
            handle.write(json.dumps(record) + "\n")


def _verdict(tid: str, label: str, reported_at: str) -> str:
    record = {"transaction_id": tid, "customer_id": "c", "store_id": "s", "label": label}
    return json.dumps({**record, "reported_at": reported_at}) + "\n"


def test_labels_are_what_the_feedback_said_by_labels_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_scored(tmp_path)
    feedback = tmp_path / "feedback.jsonl"
    feedback.write_text(
        _verdict("t1", "fraud", "2026-10-02T00:00:00Z")
        + _verdict("t3", "fraud", "2026-10-02T00:00:00Z")
        + _verdict("t3", "genuine", "2026-10-03T00:00:00Z")  # withdrawn before labels_at
        + _verdict("t4", "fraud", "2026-10-09T00:00:00Z")  # reported after labels_at
    )
    arguments = ["--output_dir", str(tmp_path), "--feedback", str(feedback)]
    assert main([*arguments, "--labels_at", "2026-10-05T00:00:00Z"]) == 0
    report = json.loads(capsys.readouterr().out)
    # Every scored record is labelled: t1 fraud; t2, t3 (withdrawn) and t4 (not yet) genuine.
    assert report["rules only"]["events"] == 4
    assert report["rules only"]["recall"] == 1.0
    assert report["rules only"]["precision"] == 0.5  # t1 and t4 flagged, only t1 is known
    assert main(arguments) == 0  # by the latest report, t4 is fraud too
    assert json.loads(capsys.readouterr().out)["rules only"]["precision"] == 1.0


def _command(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml.evaluate", *arguments], capture_output=True, text=True
    )


def test_mistakes_are_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    _write_scored(tmp_path)
    missing = _command("--output_dir", str(tmp_path), "--labels_file", str(tmp_path / "no"))
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == f"ml.evaluate: No such file or directory: {tmp_path / 'no'}\n"
    bad_time = _command(
        "--output_dir",
        str(tmp_path),
        "--feedback",
        str(tmp_path / "*.jsonl"),
        "--labels_at",
        "soon",
    )
    assert bad_time.returncode == 1
    assert bad_time.stderr.startswith("ml.evaluate: ")
    assert bad_time.stderr.count("\n") == 1
    (tmp_path / "labels.jsonl").write_text("")
    labels = str(tmp_path / "labels.jsonl")
    empty = _command("--output_dir", str(tmp_path / "nothing"), "--labels_file", labels)
    assert empty.returncode == 1
    assert empty.stderr.startswith("ml.evaluate: no scored-*.jsonl")
    moved = _command("--protocol", "--data", str(tmp_path))
    assert moved.returncode == 2
    assert moved.stderr == (
        "ml.evaluate: the protocol runs the pipeline: python -m pipelines.evaluate_protocol\n"
    )


def test_main_reads_a_runs_scored_files_and_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        ("t1", "a", True, 0.9, 0.8, 0.87),
        ("t2", "b", False, 0.1, 0.2, 0.13),
        ("t3", "c", False, 0.0, 0.7, 0.21),
        ("t4", "d", True, 0.8, None, 0.8),
    ]
    _write_scored(tmp_path, rows)
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        "".join(json.dumps({"transaction_id": r[0], "is_fraud": r[2]}) + "\n" for r in rows)
    )
    main(["--output_dir", str(tmp_path), "--labels_file", str(labels)])
    report = json.loads(capsys.readouterr().out)
    assert report["rules only"]["events"] == 4
    assert report["ML only"]["events"] == 3  # no model score for t4
    assert report["blend"]["recall"] == 1.0
    assert report["blend"]["card_precision_at_100"] == 0.5
