"""The field's evaluation protocol, run: ``python -m pipelines.evaluate_protocol``.

    python -m pipelines.evaluate_protocol --data DIR --output_dir eval \\
        [--train_from 2026-10-01 --train_days 16 --delay_days 7 --test_days 7] [--model DIR]

``DIR`` holds a generated data set (``pipelines.generate``: events, labels, blacklist,
feedback). The pipeline scores all of it three times on FnApiRunner: without feedback, with
it, and with it plus a supervised model trained (``ml.supervised``) on the training window's
scored records, labelled with what the feedback said by the end of the delay, the moment a
team would train. ``ml.protocol`` then measures every scorer on the test window only and
writes ``report.json`` and the pictures into ``--output_dir``; the summary is printed as JSON.

``--model``: the anomaly model of the runs (default: ``models/default`` if present; empty:
rules only). A mistake is one line on stderr, ``pipelines.evaluate_protocol: <reason>``, and a
non-zero exit status.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import date
from typing import Any

from ml.cli import CommandError, CommandParser, run_command
from ml.defaults import DEFAULT_MODEL_DIR
from ml.evaluate import load_scored
from ml.protocol import Windows, instant, write_report
from ml.supervised import train_supervised

__all__ = ["main", "run_protocol", "score_runs"]

RUNS = ("no_feedback", "feedback", "supervised")


def score_runs(
    data_dir: str, output_dir: str, windows: Windows, model: str | None
) -> dict[str, str]:
    """The three pipeline runs; returns each run's output folder."""
    files = {name: os.path.join(data_dir, f"{name}.jsonl") for name in ("events", "feedback")}
    base = [
        f"--input={files['events']}",
        f"--blacklist={os.path.join(data_dir, 'blacklist.csv')}",
        f"--labels_file={os.path.join(data_dir, 'labels.jsonl')}",
    ]
    anomaly = [f"--model={model}"] if model else ["--no_model"]
    runs = {name: os.path.join(output_dir, "runs", name) for name in RUNS}
    run([*base, *anomaly, f"--output_dir={runs['no_feedback']}"])
    feedback = [f"--feedback={files['feedback']}"]
    run([*base, *anomaly, *feedback, f"--output_dir={runs['feedback']}"])
    supervised_model = os.path.join(output_dir, "supervised_model")
    train_supervised(
        supervised_model,
        [os.path.join(runs["feedback"], "scored-*.jsonl")],
        [files["feedback"]],
        train_from=instant(windows.train_from),
        train_until=instant(windows.train_until),
        labels_at=instant(windows.test_from),
    )
    run([*base, *feedback, f"--model={supervised_model}", f"--output_dir={runs['supervised']}"])
    return runs


def run(argv: list[str]) -> None:
    """One pipeline run; an unusable option is the command's one-line error."""
    from pipelines.fraud import run as run_pipeline
    from pipelines.options import LaunchError

    try:
        run_pipeline(argv)
    except LaunchError as error:
        raise CommandError(str(error)) from None


def run_protocol(
    data_dir: str, output_dir: str, windows: Windows, model: str | None
) -> dict[str, Any]:
    """Score, then measure on the test window: the report ``ml.protocol`` writes."""
    labels = os.path.join(data_dir, "labels.jsonl")
    for needed in ("events.jsonl", "feedback.jsonl", "labels.jsonl"):
        if not os.path.isfile(os.path.join(data_dir, needed)):
            raise CommandError(f"--data {data_dir} has no {needed} (see pipelines.generate)")
    runs = score_runs(data_dir, output_dir, windows, model)
    test_rows = {
        name: [row for row in load_scored(path, labels) if windows.in_test(row.day)]
        for name, path in runs.items()
    }
    return write_report(test_rows, windows, output_dir)


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


_count.__name__ = "day count (an integer of at least 1)"  # how argparse names the type


def _main(argv: Sequence[str] | None) -> None:
    parser = CommandParser(
        prog="pipelines.evaluate_protocol",
        description="The field's evaluation protocol: train, delay, test (ml.protocol).",
    )
    parser.add_argument(
        "--data", required=True, help="A generated data set's folder (pipelines.generate)."
    )
    parser.add_argument("--output_dir", default="eval", help="Where the report goes.")
    parser.add_argument("--train_from", type=date.fromisoformat, default=date(2026, 10, 1))
    parser.add_argument("--train_days", type=_count, default=16)
    parser.add_argument("--delay_days", type=_count, default=7)
    parser.add_argument("--test_days", type=_count, default=7)
    parser.add_argument(
        "--model",
        help="The anomaly model of the runs (default: models/default if present; empty: none).",
    )
    args = parser.parse_args(argv)
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


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("pipelines.evaluate_protocol", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
