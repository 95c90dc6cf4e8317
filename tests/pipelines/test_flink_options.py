"""The defaults ``--runner=FlinkRunner`` gets here (pipelines/flink.py), without a cluster."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import (
    DebugOptions,
    FlinkRunnerOptions,
    PipelineOptions,
    PortableOptions,
    WorkerOptions,
)

import pipelines.flink as flink
from pipelines import fraud


@pytest.fixture
def fake_flink_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A stand-in for scripts/flink.sh that reports a provisioned jar and cluster config."""
    jar = tmp_path / "job-server.jar"
    jar.write_bytes(b"jar")
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "config.yaml").write_text("parallelism:\n  default: 1\n")
    script = tmp_path / "flink.sh"
    script.write_text(
        f'#!/bin/sh\ncase "$1" in job-server-jar) echo {jar} ;; conf-dir) echo {conf} ;;\n'
        "master) echo localhost:58081 ;;\n"
        f"staging-detector) cat {tmp_path}/detector 2>/dev/null || true ;; esac\n"
    )
    script.chmod(0o755)
    monkeypatch.setattr(flink, "FLINK_SCRIPT", script)
    monkeypatch.delenv(flink.JOB_SERVER_JAR_ENV, raising=False)
    return {"jar": jar, "conf": conf, "script": script, "detector": tmp_path / "detector"}


@pytest.mark.parametrize(
    ("runner", "expected"),
    [
        ("FlinkRunner", True),
        ("flink", True),
        ("apache_beam.runners.portability.flink_runner.FlinkRunner", True),
        ("FnApiRunner", False),
        ("DirectRunner", False),
    ],
)
def test_is_flink(runner: str, expected: bool) -> None:
    assert flink.is_flink(runner) is expected


@pytest.mark.parametrize(
    ("master", "expected"),
    [
        ("[local]", True),
        ("localhost:58081", True),
        ("http://127.0.0.1:8081", True),
        ("flink-jobmanager.streamflow:8081", False),
        ("https://flink.example.com", False),
    ],
)
def test_is_local_master(master: str, expected: bool) -> None:
    assert flink.is_local_master(master) is expected


def test_a_local_flink_run_gets_the_provisioned_job_server_loopback_and_cluster_config(
    fake_flink_script: dict[str, Path],
) -> None:
    argv = ["--runner=FlinkRunner", "--flink_master=localhost:58081"]
    completed = flink.with_flink_defaults(argv)
    options = PipelineOptions(completed)
    assert options.view_as(FlinkRunnerOptions).flink_job_server_jar == str(fake_flink_script["jar"])
    assert options.view_as(PortableOptions).environment_type == "LOOPBACK"
    assert f"--flink_conf_dir={fake_flink_script['conf']}" in completed
    assert "FLINK_CONF_DIR" not in os.environ


def test_a_local_run_above_parallelism_one_gets_a_python_worker_process_per_slot(
    fake_flink_script: dict[str, Path],
) -> None:
    local = ["--runner=FlinkRunner", "--flink_master=localhost:58081"]
    completed = flink.with_flink_defaults([*local, "--parallelism=2"])
    options = PipelineOptions(completed)
    assert int(options.view_as(PortableOptions).sdk_worker_parallelism) == 2
    assert "use_loopback_process_worker" in options.view_as(DebugOptions).experiments
    # One slot: the worker stays in this process (no start-up of another interpreter).
    for argv in (local, [*local, "--parallelism=1"]):
        assert not any("sdk_worker" in arg for arg in flink.with_flink_defaults(argv))
    chosen = [*local, "--parallelism=2", "--sdk_worker_parallelism=1"]
    assert flink.with_flink_defaults(chosen).count("--sdk_worker_parallelism=1") == 1
    assert not any("use_loopback" in arg for arg in flink.with_flink_defaults(chosen))
    # Asked for more than the slots (a live job): as many processes.
    completed = flink.with_flink_defaults(local, workers=3)
    assert "--sdk_worker_parallelism=3" in completed
    assert "--experiments=use_loopback_process_worker" in completed
    chosen = [*local, "--sdk_worker_parallelism=4"]
    assert flink.with_flink_defaults(chosen, workers=3).count("--sdk_worker_parallelism=4") == 1
    assert "--experiments=use_loopback_process_worker" in flink.with_flink_defaults(chosen)
    remote = ["--runner=FlinkRunner", "--flink_master=flink-jobmanager:8081", "--parallelism=4"]
    assert not any("sdk_worker" in arg for arg in flink.with_flink_defaults(remote))
    # LOOPBACK given explicitly is the same environment; the value as two arguments too; 0 is
    # the runner's choice (cores - 1), in processes as well.
    explicit = [*local, "--environment_type=LOOPBACK", "--parallelism=2"]
    assert "--sdk_worker_parallelism=2" in flink.with_flink_defaults(explicit)
    for given in (["--sdk_worker_parallelism", "3"], ["--sdk_worker_parallelism=0"]):
        completed = flink.with_flink_defaults([*local, *given])
        assert "--experiments=use_loopback_process_worker" in completed
        assert [arg for arg in completed if "sdk_worker" in arg] == given[:1]


def test_a_live_job_on_this_machine_gets_its_python_worker_processes(
    fake_flink_script: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    local = ["--runner=FlinkRunner", "--flink_master=localhost:58081", "--streaming"]
    monkeypatch.setenv("PATH", str(tmp_path))  # another `python` would start the workers
    live = fraud.pipeline_options([*local, "--kafka_bootstrap_servers=localhost:59092"])
    assert (Path(shutil.which("python") or "").parent / flink.WORKER_SHIM_MARK).exists()
    workers = live.view_as(PortableOptions).sdk_worker_parallelism
    assert int(workers) == fraud.LIVE_WORKER_PROCESSES > 1
    assert "use_loopback_process_worker" in live.view_as(DebugOptions).experiments
    replay = fraud.pipeline_options([*local, "--input=events.jsonl"])
    assert not replay.view_as(DebugOptions).experiments


def test_process_workers_start_as_this_interpreter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Beam's loopback pool starts its worker processes as `python`, found on the PATH (which
    # here has none).
    monkeypatch.setenv("PATH", str(tmp_path))
    flink.worker_python_on_path(PipelineOptions([]))
    assert os.environ["PATH"] == str(tmp_path)
    flink.worker_python_on_path(PipelineOptions(["--experiments=use_loopback_process_worker"]))
    found = shutil.which("python")
    assert found is not None
    assert os.environ["PATH"].endswith(str(tmp_path))
    flink.worker_python_on_path(PipelineOptions(["--experiments=use_loopback_process_worker"]))
    assert shutil.which("python") == found  # once per process, not a shim per job
    started = subprocess.run(
        ["python", "-c", "import sys; print(sys.executable)"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert started.stdout.strip() == sys.executable


def test_a_local_cluster_that_carries_the_runner_gets_a_job_that_ships_no_jars(
    fake_flink_script: dict[str, Path],
) -> None:
    argv = ["--runner=FlinkRunner", "--flink_master=localhost:58081"]
    assert not any("detector" in arg for arg in flink.with_flink_defaults(argv))

    fake_flink_script["detector"].write_text("streamflow.beam.MinimalStaging\n")
    completed = flink.with_flink_defaults(argv)

    detector = "--pipeline_resources_detector_factory_class="
    assert f"{detector}streamflow.beam.MinimalStaging" in completed
    # Declared, so the Python FlinkRunner passes it on to the job server.
    options = PipelineOptions(completed).get_all_options(retain_unknown_options=False)
    assert options["pipeline_resources_detector_factory_class"].endswith("MinimalStaging")
    for other in (
        ["--runner=FlinkRunner", "--flink_master=flink-jobmanager:8081"],
        ["--runner=FlinkRunner", "--flink_master=localhost:8081"],  # another local Flink
        [*argv, "--flink_job_server_jar=/opt/other-job-server.jar"],
    ):
        assert not any(detector in arg for arg in flink.with_flink_defaults(other))
    chosen = [*argv, f"{detector}org.example.Mine"]
    assert [arg for arg in flink.with_flink_defaults(chosen) if detector in arg] == chosen[2:]


def test_the_embedded_flink_gets_no_cluster_config(fake_flink_script: dict[str, Path]) -> None:
    completed = flink.with_flink_defaults(["--runner=FlinkRunner", "--flink_master=[local]"])
    assert not any(arg.startswith("--flink_conf_dir") for arg in completed)
    assert PipelineOptions(completed).view_as(PortableOptions).environment_type is None


def test_a_remote_master_keeps_its_environment_and_configuration(
    fake_flink_script: dict[str, Path],
) -> None:
    argv = [
        "--runner=FlinkRunner",
        "--flink_master=flink-jobmanager:8081",
        "--environment_type=EXTERNAL",
        "--environment_config=localhost:50000",
        "--flink_job_server_jar=/opt/job-server.jar",
        "--max_cache_memory_usage_mb=64",
    ]
    assert flink.with_flink_defaults(argv) == argv


def test_every_flink_run_gets_a_state_cache_unless_it_sizes_one(
    fake_flink_script: dict[str, Path],
) -> None:
    for master in ("localhost:58081", "flink-jobmanager:8081", "[local]"):
        completed = flink.with_flink_defaults(["--runner=FlinkRunner", f"--flink_master={master}"])
        cache = PipelineOptions(completed).view_as(WorkerOptions).max_cache_memory_usage_mb
        assert cache == flink.DEFAULT_STATE_CACHE_MB


def test_flink_tuning_options_reach_the_job_server() -> None:
    # The Python FlinkRunner sends only declared options; these are the Java runner's.
    options = PipelineOptions(
        ["--max_bundle_size=5000", "--max_bundle_time_mills=200", "--faster_copy"]
    ).get_all_options(retain_unknown_options=False)
    assert options["max_bundle_size"] == 5000
    assert options["max_bundle_time_mills"] == 200
    assert options["faster_copy"] is True


def test_explicit_choices_win(fake_flink_script: dict[str, Path]) -> None:
    argv = [
        "--runner=FlinkRunner",
        "--flink_master=localhost:58081",
        "--environment_type=PROCESS",
        "--flink_conf_dir=/etc/flink",
        "--max_cache_memory_usage_mb=0",
    ]
    completed = flink.with_flink_defaults(argv)
    assert completed == [*argv, f"--flink_job_server_jar={fake_flink_script['jar']}"]


def test_other_runners_are_left_alone(fake_flink_script: dict[str, Path]) -> None:
    argv = ["--runner=FnApiRunner", "--input=x"]
    assert flink.with_flink_defaults(argv) == argv


def test_an_unprovisioned_job_server_stops_the_run_with_what_to_do(
    fake_flink_script: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_flink_script["jar"].unlink()
    with pytest.raises(SystemExit) as stopped:
        fraud.main(["--runner=FlinkRunner", "--flink_master=localhost:58081", "--input=x"])
    assert "scripts/flink.sh provision" in str(stopped.value.code)


def test_a_failing_flink_script_stops_the_run_with_its_last_words(
    fake_flink_script: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_flink_script["script"].write_text(
        "#!/bin/sh\necho 'downloading...' >&2\necho 'mvn: Maven Central unreachable' >&2\nexit 3\n"
    )
    with pytest.raises(SystemExit) as stopped:
        fraud.main(["--runner=FlinkRunner", "--flink_master=localhost:58081", "--input=x"])
    assert stopped.value.code == (
        "pipelines.fraud: scripts/flink.sh job-server-jar failed: mvn: Maven Central unreachable"
    )


class _FakeResult:
    _job_id = "streamflow-live_0b6c3a1e-2f1d-4b8e-9c1a-5d7e8f9a0b1c"  # Beam's invocation id

    def cancel(self) -> None:
        raise AssertionError("the job server is gone: only Flink's REST API may be asked")


def test_a_cancel_goes_to_this_launchers_job_only(tmp_path: Path) -> None:
    jobs = [
        {"jid": "old", "name": "streamflow-live", "state": "RUNNING", "start-time": 1_000},
        {"jid": "ours", "name": "streamflow-live", "state": "RUNNING", "start-time": 5_000},
        {"jid": "other", "name": "another-job", "state": "RUNNING", "start-time": 6_000},
    ]
    patched: list[str] = []

    class Flink(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"jobs": jobs}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PATCH(self) -> None:
            patched.append(self.path)
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        master = f"127.0.0.1:{server.server_address[1]}"
        options = PipelineOptions(["--runner=FlinkRunner", f"--flink_master={master}"])
        flink.cancel_submitted(_FakeResult(), options, submitted_ms=4_000)
    finally:
        server.shutdown()
    assert patched == ["/jobs/ours?mode=cancel"]
    # A master that does not answer: one line that says what to do.
    server.server_close()
    gone = PipelineOptions(["--runner=FlinkRunner", "--flink_master=127.0.0.1:1"])
    with pytest.raises(flink.FlinkSetupError, match="cancel it in Flink's web UI"):
        flink.cancel_submitted(_FakeResult(), gone, submitted_ms=4_000)
