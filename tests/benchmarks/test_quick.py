"""benchmarks/quick.py without Flink or Kafka: ratios and their table, the parts a down
service skips, a part that fails, and a user's mistakes (one line, exit 2).

The real parts are the benchmarks' own scripts, run by the lead on a quiet machine; here a
part is a function and a service script is a stand-in that reports itself up or down.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import quick
from benchmarks.quick import Part, PartError, Settings

ROOT = Path(__file__).resolve().parents[2]
OLD = {
    "flink-bounded": {"events_per_s_job": 2000, "job_s": 50.0},
    "live": {"max_sustained_events_per_s": 300, "at_200_p99_s": 8.0, "first_output_s": None},
    "direct": {"skipped": "not measured then"},
}
NEW = {
    "flink-bounded": {"events_per_s_job": 5000, "job_s": 20.0},
    "live": {"max_sustained_events_per_s": 1500, "at_200_p99_s": 0.8, "first_output_s": 18.0},
    "direct": {"events_per_s_wall": 6000},
    "flink-streaming": {"skipped": "Flink is not running on port 58081"},
}


def _service_script(folder: Path, service: str, up: bool) -> None:
    """A stand-in for scripts/<service>.sh whose ``status`` says what the real one says."""
    script = folder / f"{service}.sh"
    said = f"{service} running" if up else f"{service} is not running on port 1"
    script.write_text(f'#!/bin/sh\necho "{said}"\nexit {0 if up else 1}\n')
    script.chmod(0o755)


def _quick(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "quick.py"), *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_ratios_are_new_over_old_for_every_figure_both_runs_measured() -> None:
    compared = quick.with_ratios(NEW, OLD)

    assert compared["flink-bounded"]["ratio"] == {"events_per_s_job": 2.5, "job_s": 0.4}
    # first_output_s was not measured before: no ratio for it.
    assert compared["live"]["ratio"] == {"max_sustained_events_per_s": 5.0, "at_200_p99_s": 0.1}
    assert compared["live"]["first_output_s"] == 18.0
    assert "ratio" not in compared["direct"]  # skipped before
    assert compared["flink-streaming"] == NEW["flink-streaming"]


def test_a_baseline_that_has_ratios_itself_compares_figures_only() -> None:
    older = quick.with_ratios(OLD, {"flink-bounded": {"events_per_s_job": 1000}})

    assert quick.with_ratios(NEW, older)["flink-bounded"]["ratio"] == {
        "events_per_s_job": 2.5,
        "job_s": 0.4,
    }


def test_the_table_has_one_row_per_figure_and_one_per_part_not_measured() -> None:
    rows = [line.split() for line in quick.ratio_table(NEW, OLD).splitlines()]

    assert rows[0] == ["part", "figure", "old", "new", "ratio"]
    assert ["flink-bounded", "events_per_s_job", "2,000", "5,000", "2.5"] in rows
    assert ["flink-bounded", "job_s", "50.0", "20.0", "0.4"] in rows
    assert ["live", "first_output_s", "-", "18.0", "-"] in rows
    assert ["direct", "events_per_s_wall", "-", "6,000", "-"] in rows
    assert ["flink-streaming", "-", "-", "skipped", "-"] in rows
    assert len(rows) == 1 + 2 + 3 + 1 + 1 + 1  # header, figures, skipped part, legend


def test_the_live_figures_come_from_the_kafka_benchmarks_report() -> None:
    report = {
        "events_in_stream": 20_000,
        "first_output_s": 52.3,
        "phases": [
            {
                "rate": "200",
                "sustained_events_per_s": 191,
                "latency_s": {"p50": 1.7, "p90": 3.0, "p99": 5.4, "max": 6.0},
            },
            {"rate": "max", "sustained_events_per_s": 288, "latency_s": None},
        ],
    }

    assert quick.live_figures(report) == {
        "max_sustained_events_per_s": 288,
        "at_200_sustained_events_per_s": 191,
        "at_200_p50_s": 1.7,
        "at_200_p99_s": 5.4,
        "first_output_s": 52.3,
    }


def test_a_service_script_that_reports_down_gives_its_own_line(tmp_path: Path) -> None:
    _service_script(tmp_path, "flink", up=False)
    _service_script(tmp_path, "kafka", up=True)

    assert quick.service_down(tmp_path / "kafka.sh") is None
    why = quick.service_down(tmp_path / "flink.sh")
    assert why is not None
    assert why.startswith("flink is not running on port 1")
    assert "\n" not in why
    assert "No such file" in str(quick.service_down(tmp_path / "absent.sh"))


def test_a_part_whose_service_is_down_is_skipped_and_the_run_goes_on(tmp_path: Path) -> None:
    _service_script(tmp_path, "flink", up=False)
    _service_script(tmp_path, "kafka", up=True)
    measured: list[str] = []

    def measure(name: str) -> Part:
        return Part(name, (), lambda _: measured.append(name) or {"events_per_s": 10.0})

    parts = [
        measure("first"),
        Part("on-flink", ("kafka", "flink"), lambda _: measured.append("on-flink") or {}),
        measure("last"),
    ]
    results = quick.run_parts(parts, Settings(2000, 20), tmp_path)

    assert measured == ["first", "last"]
    assert results == {
        "first": {"events_per_s": 10.0},
        "on-flink": {"skipped": f"flink is not running on port 1 ({tmp_path / 'flink.sh'} start)"},
        "last": {"events_per_s": 10.0},
    }


def test_one_document_with_ratios_on_stdout_and_the_table_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "old.json"
    baseline.write_text(json.dumps({"date": "then", "results": {"fast": {"events_per_s": 4.0}}}))

    def failing(_: Settings) -> quick.Figures:
        raise PartError("exit 1: the job stopped")

    parts = [Part("fast", (), lambda _: {"events_per_s": 10.0}), Part("broken", (), failing)]
    status = quick.quick(["--baseline", str(baseline)], parts=parts, scripts=tmp_path)

    out, err = capsys.readouterr()
    document = json.loads(out)
    assert status == 1  # a part failed
    assert set(document) >= {"date", "commit", "cpus", "seconds", "settings", "results"}
    assert document["results"] == {
        "fast": {"events_per_s": 10.0, "ratio": {"events_per_s": 2.5}},
        "broken": {"failed": "exit 1: the job stopped"},
    }
    assert document["baseline"]["date"] == "then"
    assert document["settings"] == {"events": 20_000, "live_seconds": 20, "live_customers": 741}
    assert ["fast", "events_per_s", "4.0", "10.0", "2.5"] in [
        line.split() for line in err.splitlines()
    ]


def test_a_failing_benchmark_is_one_line_that_names_its_log() -> None:
    command = [
        sys.executable,
        "-c",
        "import sys; print('Traceback\\nboom', file=sys.stderr); sys.exit(3)",
    ]
    with pytest.raises(PartError, match=r"^exit 3: boom \(its stderr: .*\.err\)$") as raised:
        quick.run_benchmark(command)

    log = Path(str(raised.value).rsplit("its stderr: ", 1)[1].rstrip(")"))
    assert log.read_text() == "Traceback\nboom\n"
    log.unlink()


def test_a_benchmark_past_its_time_is_interrupted_so_it_can_clean_up(tmp_path: Path) -> None:
    # The benchmark's clean-up (a live job cancelled) runs on Ctrl-C; a kill would skip it.
    marker = tmp_path / "cleaned-up"
    command = [
        sys.executable,
        "-c",
        f"import time\ntry:\n    time.sleep(60)\nfinally:\n    open({str(marker)!r}, 'w').close()",
    ]
    with pytest.raises(PartError, match="timed out after 1 s"):
        quick.run_benchmark(command, timeout=1)

    assert marker.exists()


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--only", "direct,nope"], "quick: --only direct,nope: expected some of direct,"),
        (["--baseline", "/nowhere/old.json"], "quick: --baseline /nowhere/old.json: No such file"),
        (["--events", "10"], "quick: argument --events: 10 is out of range"),
        (["--only", "live", "--live_seconds", "100"], "quick: --live_seconds 100 at 200 events/s"),
    ],
)
def test_a_users_mistake_is_one_line_and_exit_2(argv: list[str], line: str) -> None:
    done = _quick(*argv)

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(line)
    assert done.stderr.count("\n") == 1


def test_a_baseline_that_is_not_a_quick_output_is_a_users_mistake(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"cpus": 2, "results": [1]}))

    done = _quick("--baseline", str(other), "--only", "direct")

    assert (done.returncode, done.stderr) == (
        2,
        f"quick: --baseline {other}: not an output of benchmarks/quick.py\n",
    )
