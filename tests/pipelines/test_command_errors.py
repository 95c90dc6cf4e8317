"""A user's mistake ends every command with one line on stderr and a non-zero exit.

Each command runs as a user runs it, in a subprocess: its exit status, its one line
(``<tool>: <reason>``), no traceback, and never a DSN's password.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import FlinkRunnerOptions, _BeamArgumentParser

from pipelines.cli import RUN_ERROR, USAGE_ERROR
from pipelines.flink import FlinkTuningOptions
from pipelines.kafka import KafkaOptions
from pipelines.option_checks import NUMERIC_RANGES, check_command_line
from pipelines.options import FraudOptions, LaunchError
from pipelines.warehouse import cli as warehouse_cli
from tests.k8s.images import pipeline_args

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-pw"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _one_line(tool: str, *argv: str, status: int | None = None) -> str:
    """Runs ``python -m tool argv``; asserts it failed with one line, which it returns."""
    done = subprocess.run(
        [sys.executable, "-m", tool, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode != 0, done.stdout
    if status is not None:
        assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"{tool}: "), lines[0]
    return lines[0]


# -- pipelines.fraud ----------------------------------------------------------------------


def test_an_option_nobody_knows_is_refused_with_the_closest_known_one(tmp_path: Path) -> None:
    feedback = tmp_path / "feedback.jsonl"
    feedback.write_text("")
    line = _one_line(
        "pipelines.fraud",
        f"--feedbak={feedback}",
        "--input=nowhere/*.jsonl",
        f"--output_dir={tmp_path}",
    )
    assert line == "pipelines.fraud: unknown option --feedbak (did you mean --feedback?)"


def test_a_negative_payload_limit_is_refused_before_anything_runs(tmp_path: Path) -> None:
    line = _one_line(
        "pipelines.fraud", "--max_payload_bytes=-5", "--customers=5", f"--output_dir={tmp_path}"
    )
    assert "--max_payload_bytes: -5 is out of range" in line
    assert not (tmp_path / "input").exists()  # nothing was generated


def test_a_malformed_number_is_one_line_not_beams_usage(tmp_path: Path) -> None:
    line = _one_line("pipelines.fraud", "--parallelism=two", f"--output_dir={tmp_path}")
    assert "--parallelism" in line
    assert "'two'" in line
    # Beam declares this one without a type: the check converts it.
    with pytest.raises(LaunchError, match=r"^--sdk_worker_parallelism: 'two' is not an integer"):
        check_command_line(["--sdk_worker_parallelism=two"])


def test_a_malformed_warehouse_dsn_is_refused_without_quoting_its_password(
    tmp_path: Path,
) -> None:
    line = _one_line(
        "pipelines.fraud", f"--postgres_dsn=host=127.0.0.1 {PASSWORD}", f"--output_dir={tmp_path}"
    )
    assert "--postgres_dsn is not a valid PostgreSQL connection string" in line
    assert PASSWORD not in line


@pytest.mark.parametrize(
    "argv",
    [
        # Beam's own and the runner's options, and the labels Airflow's Beam operator adds.
        [
            "--runner=FlinkRunner",
            "--flink_master=localhost:8081",
            "--environment_type=LOOPBACK",
            "--parallelism=2",
            "--max_bundle_size=1000",
            "--max_bundle_time_mills=100",
            "--checkpointing_interval=-1",
            "--flink_conf_dir=/tmp",
            "--streaming",
            "--labels=airflow-version=v3-0-0",
            "--labels_file=labels.jsonl",
            "--job_name=fraud",
            "--setup_file=./setup.py",
            "--experiments=beam_fn_api",
        ],
        # The warehouse and the Kafka options.
        [
            "--postgres_dsn=host=localhost",
            "--kafka_bootstrap_servers=127.0.0.1:59092",
            "--input_topic=t",
            "--kafka_client_config=security.protocol=SSL",
            "--feedback",
            "f.jsonl",
            "--max_payload_bytes=1024",
        ],
    ],
)
def test_beams_the_runners_and_the_pipelines_own_options_pass(argv: list[str]) -> None:
    check_command_line(argv)


def test_the_production_images_options_pass() -> None:
    check_command_line(pipeline_args())


def _numeric_options(options_class: type) -> set[str]:
    parser = _BeamArgumentParser()
    options_class._add_argparse_args(parser)
    return {action.dest for action in parser._actions if action.type in (int, float)}


@pytest.mark.parametrize(
    "options_class", [FraudOptions, KafkaOptions, FlinkTuningOptions, FlinkRunnerOptions]
)
def test_every_numeric_option_has_a_range(options_class: type) -> None:
    assert _numeric_options(options_class) <= set(NUMERIC_RANGES)


@pytest.mark.parametrize("name", sorted(NUMERIC_RANGES))
def test_each_range_refuses_just_outside_and_accepts_its_ends(name: str) -> None:
    allowed = NUMERIC_RANGES[name]
    assert allowed.low is not None
    assert allowed.high is not None
    for inside in (allowed.low, allowed.high):
        check_command_line([f"--{name}={allowed.kind(inside)}"])
    step = 1 if allowed.kind is int else 0.5
    for outside in (allowed.low - step, allowed.high + step):
        if outside in allowed.also:
            continue
        with pytest.raises(LaunchError, match=f"^--{name}: .* is out of range"):
            check_command_line([f"--{name}={allowed.kind(outside)}"])


# -- pipelines.warehouse ------------------------------------------------------------------

WAREHOUSE_COMMANDS = {
    "migrate": [],
    "refresh": [],
    "quality": ["--check", "null_rate"],
    "maintain": ["--prune"],
    "dlq-report": [],
    "export-feedback": ["--archive", "feedback-archive"],
    "register-model": [
        "--decision",
        json.dumps(
            {
                "decision": "kept",
                "reason": "r",
                "model_dir": "m",
                "candidate": {"model_version": "v", "model_sha256": "s", "metrics": {}},
                "current": {},
            }
        ),
    ],
}


def test_every_warehouse_command_is_covered() -> None:
    assert set(WAREHOUSE_COMMANDS) == set(warehouse_cli.COMMANDS)


@pytest.mark.parametrize("command", sorted(WAREHOUSE_COMMANDS))
def test_a_warehouse_that_does_not_answer_is_one_line_without_the_password(command: str) -> None:
    dsn = f"postgresql://streamflow:{PASSWORD}@127.0.0.1:{_closed_port()}/streamflow"
    line = _one_line(
        "pipelines.warehouse",
        command,
        "--dsn",
        dsn,
        *WAREHOUSE_COMMANDS[command],
        status=RUN_ERROR,
    )
    assert line.startswith(f"pipelines.warehouse: {command}: ")
    assert "Connection refused" in line
    assert PASSWORD not in line


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def test_a_server_that_never_answers_times_out_with_one_line(
    silent_server: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In process, to shorten the timeout; libpq alone would wait for ever.
    monkeypatch.setattr(warehouse_cli, "CONNECT_TIMEOUT_S", 2)
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    dsn = f"host=127.0.0.1 port={silent_server} user=u password={PASSWORD} dbname=d"
    assert warehouse_cli.main(["migrate", "--dsn", dsn]) == RUN_ERROR
    err = capsys.readouterr().err
    assert err.startswith("pipelines.warehouse: migrate: ")
    assert "timeout" in err
    assert len(err.strip().splitlines()) == 1
    assert PASSWORD not in err


def test_a_malformed_dsn_is_refused_without_quoting_it() -> None:
    line = _one_line(
        "pipelines.warehouse", "migrate", "--dsn", f"host=x {PASSWORD}", status=USAGE_ERROR
    )
    assert "not a valid PostgreSQL connection string" in line
    assert PASSWORD not in line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["refresh", "--since", "yesterday"], "'yesterday' is not an ISO-8601 instant"),
        (
            [
                "refresh",
                "--since",
                "2026-10-02T00:00:00+00:00",
                "--until",
                "2026-10-01T00:00+00:00",
            ],
            "is not before --until",
        ),
        (["dlq-report", "--top", "0"], "--top: 0 is out of range"),
        (["quality", "--check", "null_rate", "--warn", "0.5", "--fail", "0.1"], "above --fail"),
        (["quality", "--check", "null_rat"], "invalid choice: 'null_rat'"),
        (["register-model", "--decision", "{}"], "--decision: no decision"),
        (["migrate", "--dns", "x"], "unknown option --dns (did you mean --dsn?)"),
    ],
)
def test_warehouse_command_line_mistakes_are_one_line(argv: list[str], expected: str) -> None:
    # A reachable-looking DSN: each mistake must be caught before any connection.
    line = _one_line(
        "pipelines.warehouse",
        *argv[:1],
        "--dsn",
        f"host=127.0.0.1 port={_closed_port()}",
        *argv[1:],
        status=USAGE_ERROR,
    )
    assert expected in line


# -- pipelines.produce, generate, backfill_plan -------------------------------------------


def test_produce_refuses_an_input_that_matches_no_file(tmp_path: Path) -> None:
    line = _one_line(
        "pipelines.produce",
        f"--bootstrap_servers=127.0.0.1:{_closed_port()}",
        f"--input={tmp_path / 'missing.jsonl'}",
        status=USAGE_ERROR,
    )
    assert line.endswith("missing.jsonl matches no file")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--rate=0"], "--rate: 0 is out of range: expected a number above 0"),
        (["--limit=-1"], "--limit: -1 is out of range"),
        (["--kind=event"], "invalid choice: 'event'"),
        (["--topc=x"], "unknown option --topc (did you mean --topic?)"),
        (["--business_timezone=Mars/Olympus"], "not an IANA time zone"),
    ],
)
def test_produce_refuses_bad_values(argv: list[str], expected: str) -> None:
    line = _one_line(
        "pipelines.produce",
        f"--bootstrap_servers=127.0.0.1:{_closed_port()}",
        *argv,
        status=USAGE_ERROR,
    )
    assert expected in line


def test_produce_to_a_broker_that_does_not_answer_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from pipelines import produce

    monkeypatch.setattr(produce, "BROKER_TIMEOUT_S", 1.0)
    events = tmp_path / "events.jsonl"
    events.write_text("{}\n")
    with pytest.raises(SystemExit) as stopped:
        produce.main([f"--bootstrap_servers=127.0.0.1:{_closed_port()}", f"--input={events}"])
    assert stopped.value.code == RUN_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith("pipelines.produce: --bootstrap_servers 127.0.0.1:")
    assert "the broker does not answer" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--days=0"], "--days: 0 is out of range: expected an integer from 1 to 3,660"),
        (["--fraud_rate=0.5"], "--fraud_rate: 0.5 is out of range"),
        (["--feedback_delay_days=-1"], "--feedback_delay_days: -1 is out of range"),
        (["--start=2026-13-01"], "'2026-13-01' is not a day"),
        (["--dayz=3"], "unknown option --dayz (did you mean --days?)"),
    ],
)
def test_generate_refuses_bad_values(tmp_path: Path, argv: list[str], expected: str) -> None:
    line = _one_line("pipelines.generate", f"--output_dir={tmp_path}", *argv, status=USAGE_ERROR)
    assert expected in line


def test_generate_into_a_folder_it_cannot_write_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    line = _one_line(
        "pipelines.generate",
        f"--output_dir={blocker / 'data'}",
        "--customers=2",
        "--days=1",
        status=USAGE_ERROR,
    )
    assert line.startswith("pipelines.generate: cannot write ")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--warmup_days=-1"], "--warmup_days: -1 is out of range"),
        (["--start=2026-10-32"], "'2026-10-32' is not a day"),
        (["--rules=/nowhere/rules.yaml"], "/nowhere/rules.yaml: No such file or directory"),
        (["--warmupdays=3"], "unknown option --warmupdays (did you mean --warmup_days?)"),
    ],
)
def test_backfill_plan_refuses_bad_values(tmp_path: Path, argv: list[str], expected: str) -> None:
    (tmp_path / "date=2026-10-01").mkdir()
    (tmp_path / "date=2026-10-01" / "events.jsonl").write_text("{}\n")
    line = _one_line(
        "pipelines.backfill_plan",
        f"--archive={tmp_path}",
        "--start=2026-10-01",
        "--end=2026-10-01",
        "--output_dir=out",
        *argv,
        status=USAGE_ERROR,
    )
    assert expected in line
