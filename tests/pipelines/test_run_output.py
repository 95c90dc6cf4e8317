"""What ``python -m pipelines.fraud`` shows a person: ``--help``, the readable summary, progress
lines, and the option table in docs/options.md."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.fraud import main
from pipelines.option_help import OPTION_CLASSES, OPTIONS_DOC, REGENERATE, help_text, markdown
from transforms.progress import ProgressTally

ROOT = Path(__file__).resolve().parents[2]
PROGRESS_LINE = re.compile(
    r"^progress: ([\d,]+) read \([\d,]+/s\), ([\d,]+) scored \([\d,]+/s\), [\d,]+ s elapsed$"
)


def _option_strings() -> list[str]:
    import argparse

    names = []
    for options_class, _ in OPTION_CLASSES:
        parser = argparse.ArgumentParser(add_help=False)
        options_class._add_argparse_args(parser)
        names += [max(action.option_strings, key=len) for action in parser._actions]
    return names


def test_help_lists_every_option_with_its_default_and_exits_0(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A DSN in the environment is the --postgres_dsn default: it may hold a password.
    monkeypatch.setenv("STREAMFLOW_PG_DSN", "postgresql://streamflow:s3cret@db/streamflow")
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.fraud", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    shown = done.stdout
    for name in _option_strings():
        assert name in shown, name
    flat = " ".join(shown.split())  # argparse wraps the texts
    assert "--output_dir OUTPUT_DIR Where scored/alerts/dlq JSONL files" in flat
    assert "(default: out)" in flat
    assert "(default: transactions.raw)" in flat
    assert "(default: $STREAMFLOW_PG_DSN)" in flat
    assert "s3cret" not in shown
    assert "Beam's standard options are accepted too: --runner" in flat
    assert done.stderr == ""


def test_every_options_class_under_pipelines_is_in_the_help() -> None:
    # A new options class must show in --help and docs/options.md.
    declared = set()
    for path in (ROOT / "pipelines").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(base).endswith("PipelineOptions") for base in node.bases
            ):
                declared.add(node.name)
    assert declared == {options_class.__name__ for options_class, _ in OPTION_CLASSES}


def test_the_committed_option_table_is_the_parsers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMFLOW_PG_DSN", "postgresql://streamflow:s3cret@db/streamflow")
    expected = markdown()
    assert "s3cret" not in expected
    committed = OPTIONS_DOC.read_text(encoding="utf-8") if OPTIONS_DOC.exists() else ""
    assert committed == expected, (
        f"docs/options.md differs from the argument parser: run {REGENERATE}"
    )
    for name in _option_strings():
        assert f"| `{name}` |" in committed, name


def test_the_help_text_shows_groups_in_order() -> None:
    text = help_text()
    positions = [text.index(title) for _, title in OPTION_CLASSES]
    assert positions == sorted(positions)


def test_a_run_prints_a_short_readable_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main([f"--output_dir={tmp_path}", "--customers=40", "--days=5", "--no_model"])
    printed = capsys.readouterr()
    summary = json.loads((tmp_path / "summary.json").read_text())
    lines = printed.out.splitlines()
    assert 10 <= len(lines) <= 20, printed.out
    assert re.fullmatch(rf"StreamFlow run: {summary['read']:,} events read in [\d.,]+ s", lines[0])
    assert re.search(rf"^  scored +{summary['scored']:,}$", printed.out, re.M)
    assert re.search(rf"^  alerts +{summary['alerts']:,}$", printed.out, re.M)
    ranked = sorted(summary["dlq_by_error_type"].items(), key=lambda item: (-item[1], item[0]))
    by_type = ", ".join(f"{error} {count:,}" for error, count in ranked)
    assert summary["dlq"] > 0
    assert f"  dead-lettered  {summary['dlq']:>10,}  ({by_type})" in lines
    quality = summary["quality"]
    assert re.search(
        rf"^  rules +{quality['precision']:.3f} +{quality['recall']:.3f} "
        rf"+{quality['average_precision']:.3f}$",
        printed.out,
        re.M,
    )
    assert "Model: none (rules only)" in lines
    assert f"Rules: {summary['rules_version']}; " in printed.out
    assert f"  scored   {tmp_path}/scored-* (1 file)" in lines
    assert f"  summary  {tmp_path}/summary.json (everything; --json prints it)" in lines
    assert "{" not in printed.out
    # The generated data is described in words on stderr, not as a Python dict.
    labels = (tmp_path / "input" / "labels.jsonl").read_text().splitlines()
    fraud = sum(json.loads(line)["is_fraud"] for line in labels)
    generated = [line for line in printed.err.splitlines() if line.startswith("Generated ")]
    assert generated == [
        f"Generated {summary['read']:,} events ({summary['dlq']} malformed, {fraud} fraud) "
        f"of 40 customers over 5 days into {tmp_path}/input"
    ]


def test_a_run_shows_progress_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.factories import event, payload

    source = tmp_path / "events.jsonl"
    source.write_bytes(b"".join(payload(event(f"t{n}")) + b"\n" for n in range(50)))
    argv = [f"--input={source}", f"--output_dir={tmp_path / 'out'}", "--no_model"]
    main([*argv, "--progress_interval_s=0.001"])
    progress = [
        PROGRESS_LINE.match(line)
        for line in capsys.readouterr().err.splitlines()
        if line.startswith("progress:")
    ]
    assert progress, "no progress line"
    assert all(progress), "a malformed progress line"
    read = [int(match.group(1).replace(",", "")) for match in progress if match]
    scored = [int(match.group(2).replace(",", "")) for match in progress if match]
    assert read == sorted(read)
    assert max(read) <= 50
    assert 0 < max(scored) <= 50

    main([*argv, "--progress_interval_s=0"])
    assert "progress:" not in capsys.readouterr().err


def test_a_progress_line_gives_counts_rates_and_elapsed_time() -> None:
    tally = ProgressTally(interval_s=0.0)
    tally.read, tally.scored = 12_345, 12_300
    now = tally.started + 10.0
    assert tally.line(now) == (
        "progress: 12,345 read (1,234/s), 12,300 scored (1,230/s), 10 s elapsed"
    )
    tally.taps.update(("read", "scored"))  # both taps in this process: the same line
    assert tally.line(now).startswith("progress: 12,345 read (1,234/s), 12,300 scored")


def test_a_worker_process_with_one_tap_says_only_what_it_counts() -> None:
    # Flink's worker processes: the read tap in one, the scored tap in another.
    scoring = ProgressTally(interval_s=0.0)
    scoring.taps.add("scored")
    scoring.scored = 12_300
    assert scoring.line(scoring.started + 10.0) == (
        "progress: 12,300 scored (1,230/s), 10 s elapsed"
    )
    reading = ProgressTally(interval_s=0.0)
    reading.taps.add("read")
    reading.read = 500
    assert reading.line(reading.started + 10.0) == "progress: 500 read (50/s), 10 s elapsed"


class _CancelledInFlink:
    """What Beam's portable runner raises for a job cancelled in Flink's web UI or REST API."""

    def wait_until_finish(self) -> None:
        raise RuntimeError(
            "Pipeline streamflow_1 failed in state FAILED: "
            "org.apache.flink.runtime.client.JobCancellationException: Job was cancelled."
        )


class _Failed:
    def wait_until_finish(self) -> None:
        raise RuntimeError("Pipeline streamflow_1 failed in state FAILED: java.io.IOException")


def test_a_job_cancelled_in_flink_ends_the_launcher_with_one_line(tmp_path: Path) -> None:
    from pipelines.fraud import wait_for_summary
    from pipelines.options import LaunchError

    options = PipelineOptions([f"--output_dir={tmp_path}"])
    reference: Any = None  # never read: the job produced no summary to check against
    with pytest.raises(LaunchError, match=f"cancelled in Flink; .* in {tmp_path}$"):
        wait_for_summary(_CancelledInFlink(), options, reference, submitted_ms=0)
    # A job that failed is not a cancellation: Beam's error, with its cause, goes on up.
    with pytest.raises(RuntimeError, match="IOException"):
        wait_for_summary(_Failed(), options, reference, submitted_ms=0)
