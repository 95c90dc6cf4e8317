"""Every configuration of issue 21 in one short run, with ratios against an earlier run.

    scripts/flink.sh start; scripts/kafka.sh start
    python benchmarks/quick.py [--baseline FILE] [--events 20000] [--live_seconds 20]
        [--only direct,flink-bounded,flink-streaming,live] > quick.json

Runs, in this order, each part as a subprocess of the benchmark that owns it (so each keeps
its own behaviour), rules and the anomaly model:

* ``direct``: FnApiRunner in process (``flink_throughput.py --configs direct``);
* ``flink-bounded``: Flink batch, parallelism 2 (``--configs flink-p2``);
* ``flink-streaming``: Flink streaming over the file, parallelism 2, a replayed backlog
  (``--configs flink-streaming-p2``);
* ``live``: Kafka into a Flink p1 job and alerts out (``kafka_streaming.py --rates 200,max``):
  ``--live_seconds`` at 200 events/s, then the rest of a stream of about ``--events`` events
  as fast as the producer goes.

Prints one JSON document on stdout: date, commit, cpus, total seconds, the settings and, per
part, its key figures. With ``--baseline`` (an earlier output of this script), each part also
gets ``"ratio"``: new / old for every figure (times and latencies, ``*_s``: lower is better;
rates, ``*_per_s``: higher is better), and a table goes to stderr. Each part prints its figures
on stderr when it ends, so a run that fails later keeps what it measured. A part whose service
is down is ``{"skipped": why}`` and one that fails is ``{"failed": why}``; the run goes on, and
exits 1 if a part failed. Aimed at under five minutes on 2 cores with the defaults.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.cli import CommandError, OneLineParser, Range, run_command  # noqa: E402

TOOL = "quick"
SCRIPTS = REPO / "scripts"
# The synthetic generator's yield over its default 30 days (flink_throughput.py uses the same).
EVENTS_PER_CUSTOMER = 27
LIVE_RATE = 200
LIVE_WARM_UP_EVENTS = 200  # kafka_streaming.py's warm-up, not measured
PART_TIMEOUT_S = 900.0

Figures = dict[str, float | None]


@dataclass(frozen=True, slots=True)
class Settings:
    events: int
    live_seconds: int

    @property
    def live_customers(self) -> int:
        return max(1, round(self.events / EVENTS_PER_CUSTOMER))


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    services: tuple[str, ...]  # scripts/<service>.sh that must report itself up
    measure: Callable[[Settings], Figures]


class PartError(Exception):
    """A part's benchmark did not give its figures; the message says why, in one line."""


def run_benchmark(command: Sequence[str], timeout: float = PART_TIMEOUT_S) -> Any:
    """The JSON document ``command`` prints on stdout; :class:`PartError` if it fails."""
    process = subprocess.Popen(
        list(command), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGINT, not a kill: the benchmark's own clean-up runs (a live job is cancelled, not
        # left on the shared cluster).
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        raise PartError(f"timed out after {timeout:.0f} s") from None
    except KeyboardInterrupt:
        process.wait(120)  # it got the same Ctrl-C: let it clean up
        raise
    if process.returncode != 0:
        said = [line for line in stderr.splitlines() if line.strip()]
        log = Path(tempfile.mkstemp(prefix="quick-", suffix=".err")[1])
        log.write_text(stderr)
        last = said[-1].strip() if said else "no output"
        raise PartError(f"exit {process.returncode}: {last} (its stderr: {log})")
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        raise PartError("its output is not one JSON document") from None


def _throughput(settings: Settings, config: str) -> dict[str, Any]:
    """One ``flink_throughput.py`` configuration with the model: its result."""
    document = run_benchmark(
        [
            sys.executable,
            str(REPO / "benchmarks" / "flink_throughput.py"),
            f"--configs={config}",
            "--scoring=model",
            f"--events={settings.events}",
        ]
    )
    return dict(document["results"][f"{config}/model"])


def measure_direct(settings: Settings) -> Figures:
    result = _throughput(settings, "direct")
    return {"events_per_s_wall": result.get("events_per_s_wall")}


def measure_flink_bounded(settings: Settings) -> Figures:
    result = _throughput(settings, "flink-p2")
    return {"events_per_s_job": result.get("events_per_s_job"), "job_s": result.get("job_s")}


def measure_flink_streaming(settings: Settings) -> Figures:
    result = _throughput(settings, "flink-streaming-p2")
    return {
        key: result.get(key)
        for key in ("events_per_s_job", "sustained_events_per_s", "first_output_s")
    }


def measure_live(settings: Settings) -> Figures:
    report = run_benchmark(
        [
            sys.executable,
            str(REPO / "benchmarks" / "kafka_streaming.py"),
            f"--rates={LIVE_RATE},max",
            f"--seconds={settings.live_seconds}",
            f"--customers={settings.live_customers}",
        ]
    )
    return live_figures(report)


def live_figures(report: dict[str, Any]) -> Figures:
    """The key figures of a ``kafka_streaming.py`` report."""
    phases = {phase["rate"]: phase for phase in report["phases"]}
    paced = phases.get(str(LIVE_RATE), {})
    latency = paced.get("latency_s") or {}
    return {
        "max_sustained_events_per_s": phases.get("max", {}).get("sustained_events_per_s"),
        f"at_{LIVE_RATE}_sustained_events_per_s": paced.get("sustained_events_per_s"),
        f"at_{LIVE_RATE}_p50_s": latency.get("p50"),
        f"at_{LIVE_RATE}_p99_s": latency.get("p99"),
        "first_output_s": report.get("first_output_s"),
    }


PARTS = (
    Part("direct", (), measure_direct),
    Part("flink-bounded", ("flink",), measure_flink_bounded),
    Part("flink-streaming", ("flink",), measure_flink_streaming),
    Part("live", ("flink", "kafka"), measure_live),
)


def service_down(script: Path, timeout: float = 60) -> str | None:
    """Why ``script status`` says its service is not up, in one line; ``None`` if it is up."""
    try:
        done = subprocess.run(
            [str(script), "status"], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return f"{script.name} status did not answer within {timeout:.0f} s"
    except OSError as error:
        return f"{script.name} status: {error.strerror or error}"
    if done.returncode == 0:
        return None
    said = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return f"{said[-1] if said else f'{script.name} status failed'} ({script} start)"


def run_parts(parts: Sequence[Part], settings: Settings, scripts: Path) -> dict[str, Any]:
    """Each part's figures, ``{"skipped": why}`` or ``{"failed": why}``, in order."""
    results: dict[str, Any] = {}
    for part in parts:
        started = time.perf_counter()
        down = [
            why for service in part.services if (why := service_down(scripts / f"{service}.sh"))
        ]
        if down:
            results[part.name] = {"skipped": down[0]}
        else:
            try:
                results[part.name] = part.measure(settings)
            except PartError as error:
                results[part.name] = {"failed": str(error)}
        took = time.perf_counter() - started
        # Progress as each part ends: a run that fails later keeps what it measured.
        print(f"{json.dumps({part.name: results[part.name]})} ({took:.0f} s)", file=sys.stderr)
    return results


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def ratios(new: dict[str, Any], old: dict[str, Any]) -> dict[str, float]:
    """new / old for every figure both parts measured (0 and missing figures left out)."""
    return {
        figure: round(value / old[figure], 2)
        for figure, value in new.items()
        if _is_number(value) and _is_number(old.get(figure)) and old[figure] != 0
    }


def with_ratios(results: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """``results`` with each measured part's ``"ratio"`` against the same part of ``baseline``."""
    compared: dict[str, Any] = {}
    for name, figures in results.items():
        ratio = ratios(figures, _figures(baseline, name))
        compared[name] = {**figures, "ratio": ratio} if ratio else figures
    return compared


def ratio_table(results: dict[str, Any], baseline: dict[str, Any]) -> str:
    """One row per part and figure: name, figure, old, new, ratio (``-`` where there is none)."""
    rows = [("part", "figure", "old", "new", "ratio")]
    for name, figures in results.items():
        old = _figures(baseline, name)
        outcome = next((key for key in ("skipped", "failed") if key in figures), None)
        if outcome:
            rows.append((name, "-", "-", outcome, "-"))
            continue
        ratio = ratios(figures, old)
        for figure, value in figures.items():
            if figure != "ratio":
                shown = (_shown(old.get(figure)), _shown(value), _shown(ratio.get(figure)))
                rows.append((name, figure, *shown))
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    lines = [
        "  ".join(
            cell.ljust(width) if column < 2 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.append("ratio = new / old: above 1 is better for *_per_s, worse for the other *_s")
    return "\n".join(lines)


def _figures(results: dict[str, Any], name: str) -> dict[str, Any]:
    """A part's figures in a document's results; none if it has no such part."""
    figures = results.get(name)
    return figures if isinstance(figures, dict) else {}


def _shown(value: Any) -> str:
    return f"{value:,}" if _is_number(value) else "-"


def load_baseline(path: str) -> dict[str, Any]:
    """An earlier output of this script; :class:`CommandError` if it is not one."""
    try:
        document = json.loads(Path(path).read_text())
    except OSError as error:
        raise CommandError(f"--baseline {path}: {error.strerror or error}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CommandError(f"--baseline {path}: not a JSON document") from None
    if not isinstance(document, dict) or not isinstance(document.get("results"), dict):
        raise CommandError(f"--baseline {path}: not an output of benchmarks/quick.py")
    return document


def _commit() -> dict[str, Any] | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"id": head, "dirty": bool(changes)}


def _parser() -> OneLineParser:
    parser = OneLineParser(prog="benchmarks/quick.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", help="an earlier output of this script, to compare with")
    parser.add_argument("--events", type=Range(int, low=1000), default=20_000)
    parser.add_argument("--live_seconds", type=Range(int, low=1), default=20)
    parser.add_argument("--only", help="some parts, comma-separated: " + _names(PARTS))
    return parser


def _names(parts: Sequence[Part]) -> str:
    return ",".join(part.name for part in parts)


def _chosen(only: str | None, parts: Sequence[Part]) -> list[Part]:
    if only is None:
        return list(parts)
    wanted = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in {part.name for part in parts}]
    if unknown or not wanted:
        raise CommandError(f"--only {only}: expected some of {_names(parts)}")
    return [part for part in parts if part.name in wanted]


def quick(argv: Sequence[str], parts: Sequence[Part] = PARTS, scripts: Path = SCRIPTS) -> int:
    """The whole run; its exit status (1 if a part failed)."""
    args = _parser().parse_args(argv)
    chosen = _chosen(args.only, parts)
    settings = Settings(args.events, args.live_seconds)
    if any(part.name == "live" for part in chosen):
        needed = LIVE_WARM_UP_EVENTS + LIVE_RATE * settings.live_seconds
        if settings.events <= needed:
            raise CommandError(
                f"--live_seconds {settings.live_seconds} at {LIVE_RATE} events/s needs more "
                f"than {needed:,} events (--events), or the live part has no max phase"
            )
    baseline = load_baseline(args.baseline) if args.baseline else None
    started = time.perf_counter()
    document: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "cpus": os.cpu_count(),
        "settings": {
            "events": settings.events,
            "live_seconds": settings.live_seconds,
            "live_customers": settings.live_customers,
        },
    }
    results = run_parts(chosen, settings, scripts)
    document["seconds"] = round(time.perf_counter() - started)
    document["results"] = results
    if baseline is not None:
        document["baseline"] = {
            key: baseline.get(key) for key in ("date", "commit", "settings")
        } | {"file": args.baseline}
        document["results"] = with_ratios(results, baseline["results"])
        if baseline.get("settings") != document["settings"]:
            print(
                f"{TOOL}: the baseline ran with {json.dumps(baseline.get('settings'))}: "
                "its ratios compare runs of different sizes",
                file=sys.stderr,
            )
        print(ratio_table(results, baseline["results"]), file=sys.stderr)
    print(json.dumps(document, indent=2))
    return 1 if any("failed" in figures for figures in results.values()) else 0


def main() -> None:
    try:
        status = run_command(TOOL, lambda: quick(sys.argv[1:]))
    except KeyboardInterrupt:
        print(f"{TOOL}: interrupted", file=sys.stderr)
        status = 130
    sys.exit(status)


if __name__ == "__main__":
    main()
