"""What a candidate would have done: ``python -m pipelines.backtest``.

    python -m pipelines.backtest --candidate_rules FILE [--candidate_model DIR|none] \\
        --from 2026-10-20 --to 2026-10-26 --archive DIR --feedback_archive DIR \\
        [--rules FILE] [--rules_changes FILE] [--model DIR|none] [--output_dir DIR]

Scores the archived days [from, to] twice on Beam's in-process runner, each after the warm-up a
backfill uses (``pipelines.backfill_plan``): the **champion** as the live job scored them (its
base ``--rules``, the registry's versions ``--rules_changes`` as ``python -m pipelines.rules
export`` writes them, ``--model``), and the **candidate** (``--candidate_rules`` for the whole
range, ``--candidate_model``, default the champion's model and its registered model versions,
so that only the rules differ). Nothing is written to the
warehouse or to a topic: the runs write files under ``--output_dir`` only. ``ml.backtest``
then measures both against the feedback known now (every file of ``--feedback_archive``) and
writes ``report.json`` and the pictures; a summary is printed as JSON.

A mistake (an unreadable rules file, a day missing from the archive) is one line on stderr and
exit 2.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pipelines.backfill_plan import WARMUP_DAYS, absolute, pipeline_argv, plan
from pipelines.cli import CommandError, OneLineParser, day, os_error_reason, run_command
from pipelines.options import FN_API_RUNNER, LaunchError

TOOL = "pipelines.backtest"


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog=f"python -m {TOOL}", description=__doc__.splitlines()[0])
    parser.add_argument("--candidate_rules", required=True, help="The candidate's rules file.")
    parser.add_argument(
        "--candidate_model", help="The candidate's model folder, or 'none' (default: --model)."
    )
    parser.add_argument("--from", dest="start", required=True, type=day, help="First day.")
    parser.add_argument("--to", dest="end", required=True, type=day, help="Last day.")
    parser.add_argument("--archive", required=True, help="Events, one folder per UTC day.")
    parser.add_argument(
        "--feedback_archive", required=True, help="Confirmed outcomes, one folder per day."
    )
    parser.add_argument("--rules", help="The champion's base rules (default: the packaged).")
    parser.add_argument("--rules_changes", help="The champion's registry (pipelines.rules export).")
    parser.add_argument(
        "--model", help="The champion's model folder, or 'none' (default: the pipeline's)."
    )
    parser.add_argument("--blacklist", help="Blacklist CSV, for both.")
    parser.add_argument("--warmup_days", type=WARMUP_DAYS, help="Default: the rules' look-back.")
    parser.add_argument("--output_dir", default="backtest", help="Where runs and report go.")
    return parser


def score(options: dict[str, Any]) -> dict[str, Any]:
    """One run on the in-process runner that writes files only (the warehouse DSN cleared)."""
    from pipelines.fraud import run

    try:
        return run([*pipeline_argv(options), "--postgres_dsn=", f"--runner={FN_API_RUNNER}"])
    except LaunchError as error:
        raise CommandError(str(error)) from None


def confirmed_frauds_now(feedback_archive: str) -> set[str]:
    from ml.supervised import confirmed_frauds, read_lines

    pattern = os.path.join(feedback_archive, "date=*", "*.jsonl")
    if not glob.glob(pattern):
        raise CommandError(f"--feedback_archive {feedback_archive}: no date=*/*.jsonl files")
    return confirmed_frauds(read_lines([pattern]), None)


def champion_models(rules_changes: str, output_dir: str) -> str | None:
    """The champion's registered model versions alone, as a file beside the runs: the
    candidate scores with the same model timeline unless it brings its own model, so that what
    it gains or loses is its rules' doing."""
    from transforms.read import read_bytes

    lines = [
        line
        for line in read_bytes(rules_changes).splitlines()
        if line.strip() and _is_champion_model(line)
    ]
    if not lines:
        return None
    path = os.path.join(output_dir, "champion_models.jsonl")
    os.makedirs(output_dir, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(b"".join(line + b"\n" for line in lines))
    return path


def _is_champion_model(line: bytes) -> bool:
    """A model version that scores as champion, read as the job reads the registry (a line
    that is not one is the champion's run to refuse, with its number)."""
    from transforms.domain.config import default_rules
    from transforms.domain.effective import CHAMPION
    from transforms.domain.model_registry import ModelChange
    from transforms.domain.scoring_registry import parse_registered_change

    change = parse_registered_change(line, default_rules())
    return isinstance(change, ModelChange) and change.role == CHAMPION


def backtest(args: Any) -> dict[str, Any]:
    output_dir = absolute(args.output_dir) or args.output_dir
    runs = {name: os.path.join(output_dir, "runs", name) for name in ("champion", "candidate")}
    candidate_changes = None
    if args.rules_changes and not args.candidate_model:
        try:
            candidate_changes = champion_models(args.rules_changes, output_dir)
        except OSError as error:
            raise CommandError(f"--rules_changes: {os_error_reason(error)}") from None
    try:
        planned = {
            name: plan(
                args.archive,
                args.start,
                args.end,
                warmup_days=args.warmup_days,
                rules=args.rules if name == "champion" else args.candidate_rules,
                model=args.model if name == "champion" else (args.candidate_model or args.model),
                blacklist=args.blacklist,
                feedback_archive=args.feedback_archive,
                rules_changes=args.rules_changes if name == "champion" else candidate_changes,
                output_dir=runs[name],
            )
            for name in runs
        }
    except OSError as error:
        raise CommandError(os_error_reason(error)) from None
    except ValueError as error:
        raise CommandError(str(error)) from None
    frauds = confirmed_frauds_now(args.feedback_archive)
    for name in runs:
        score(planned[name]["pipeline_options"])

    from ml.backtest import compare, read_scored
    from ml.plots import plot_backtest

    report = compare(read_scored(runs["champion"]), read_scored(runs["candidate"]), frauds)
    report["range"] = {"from": args.start.isoformat(), "to": args.end.isoformat()}
    report["warmup_days"] = planned["champion"]["warmup_days"]
    report["labels"] = f"feedback known at {datetime.now(UTC).isoformat(timespec='seconds')}"
    report["candidate_rules_file"] = absolute(args.candidate_rules)
    with open(os.path.join(output_dir, "report.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    pictures = plot_backtest(report, output_dir)
    return {
        "report": os.path.join(output_dir, "report.json"),
        "pictures": pictures,
        **{
            name: {
                key: report[name][key]
                for key in ("rules_version", "model_version", "alerts", "precision", "recall")
            }
            for name in ("champion", "candidate")
        },
        "gained": report["gained"]["alerts"],
        "lost": report["lost"]["alerts"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    def body() -> int:
        args = build_parser().parse_args(argv)
        if args.end < args.start:
            raise CommandError(f"--to {args.end} is before --from {args.start}")
        print(json.dumps(backtest(args)))
        return 0

    return run_command(TOOL, body)


if __name__ == "__main__":
    raise SystemExit(main())
