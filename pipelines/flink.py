"""What ``--runner=FlinkRunner`` needs here beyond Beam's own defaults.

Beam's Python FlinkRunner would download a shaded job server jar that Maven Central does not
serve for this Beam release (see scripts/flink.sh), without ``--environment_type`` it would
start SDK workers in Docker, and without ``--max_cache_memory_usage_mb`` its workers cache no
state. So, unless given explicitly:

* the SDK harness caches up to ``DEFAULT_STATE_CACHE_MB`` of state per worker process;

* the job server is the one ``scripts/flink.sh provision`` assembled (or the jar named by
  ``STREAMFLOW_FLINK_JOB_SERVER_JAR``);
* a master on this machine runs the Python workers from the submitting process (``LOOPBACK``):
  in it at parallelism 1, and above that one worker process per slot
  (:func:`loopback_worker_args`); production sets ``EXTERNAL`` with the worker pool sidecar
  (k8s/);
* a master on this machine is taken to be the project's cluster, whose configuration
  (``scripts/flink.sh conf-dir``) the job server applies to the job (``--flink_conf_dir``):
  checkpointing (interval, EXACTLY_ONCE) is a setting of each job, not of the cluster, so
  without it a streaming job would run with checkpoints off;
* and if that cluster carries the provisioned job server's jars in its lib folder, a job from
  that job server ships none (``scripts/flink.sh staging-detector``): otherwise it uploads its
  whole classpath, ~170 MB, with every job, 12-17 s of a job's start-up.
"""

from __future__ import annotations

import atexit
import json
import os
import shlex
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import ParseResult, urlparse

from apache_beam.options.pipeline_options import (
    DebugOptions,
    FlinkRunnerOptions,
    PipelineOptions,
    PortableOptions,
    StandardOptions,
)

from pipelines.options import LaunchError, has_option
from pipelines.service_scripts import SCRIPTS, script_output

JOB_SERVER_JAR_ENV = "STREAMFLOW_FLINK_JOB_SERVER_JAR"
# The SDK harness's state cache per worker process, for Flink runs that do not size it.
DEFAULT_STATE_CACHE_MB = 256
FLINK_SCRIPT = SCRIPTS / "flink.sh"
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
_EMBEDDED_MASTERS = {"[local]", "[auto]"}
# A folder holding the loopback workers' `python` shim (worker_python_on_path) holds this too.
WORKER_SHIM_MARK = ".streamflow-worker-shim"


class FlinkTuningOptions(PipelineOptions):  # type: ignore[misc]
    """Options of Beam's Java Flink runner (``FlinkPipelineOptions``) that Python does not
    declare. The Python FlinkRunner sends the job server only options some Python class
    declares, so without this one these flags would be dropped without a word."""

    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        parser.add_argument(
            "--flink_conf_dir",
            help="Folder with a Flink config.yaml whose settings (checkpointing, state "
            "backend) the job server applies to the job.",
        )
        parser.add_argument(
            "--pipeline_resources_detector_factory_class",
            help="Java class that picks the jars the job server ships with a job (Beam's "
            "default: its whole classpath, ~170 MB). The local cluster carries Beam's runner, "
            "so for it the launcher names scripts/flink.sh staging-detector, which ships one "
            "2 KB jar.",
        )
        parser.add_argument(
            "--max_bundle_size",
            type=int,
            help="Elements per SDK bundle (Beam's default: 1,000 streaming, 5,000 batch).",
        )
        parser.add_argument(
            "--max_bundle_time_mills",
            type=int,
            help="Milliseconds before a bundle is finished (Beam's default: 1,000).",
        )
        parser.add_argument(
            "--faster_copy",
            action="store_true",
            default=None,
            help="Skip the defensive copy of elements between Flink operators.",
        )
        parser.add_argument(
            "--checkpointing_interval",
            type=int,
            help="Milliseconds between checkpoints, as a Beam option. Leave it unset: the "
            "cluster's configuration (--flink_conf_dir, the FlinkDeployment) checkpoints every "
            "job, and with this option set Beam keeps finished sources running, so a streaming "
            "run over files would never end. Beam requires it only for @RequiresStableInput "
            "steps, which this pipeline does not have.",
        )
        parser.add_argument(
            "--finish_bundle_before_checkpointing",
            action="store_true",
            default=None,
            help="Finish the open bundle before each checkpoint instead of buffering its "
            "output in the checkpoint.",
        )


class FlinkSetupError(LaunchError):
    """The Flink run cannot start; the message says what to run first."""


def is_flink(runner: object) -> bool:
    name = runner if isinstance(runner, str) else type(runner).__name__
    return name.rsplit(".", 1)[-1].lower().removesuffix("runner") == "flink"


def with_flink_defaults(argv: Sequence[str], workers: int = 1) -> list[str]:
    """``argv`` plus the flags a Flink run needs here; unchanged for other runners. A job on
    this machine's cluster gets at least ``workers`` Python worker processes, and one per slot
    (:func:`loopback_worker_args`)."""
    options = PipelineOptions(argv)
    if not is_flink(options.view_as(StandardOptions).runner):
        return list(argv)
    extra = []
    if not has_option(argv, "--max_cache_memory_usage_mb"):
        # Beam's default is no cache: every state read would be a round trip to the runner.
        extra.append(f"--max_cache_memory_usage_mb={DEFAULT_STATE_CACHE_MB}")
    flink = options.view_as(FlinkRunnerOptions)
    if not flink.flink_job_server_jar:
        extra.append(f"--flink_job_server_jar={provisioned_job_server_jar()}")
    master = flink.flink_master
    if master in _EMBEDDED_MASTERS or not is_local_master(master):
        # Beam picks LOOPBACK for its embedded Flink itself; a remote master is production.
        return [*argv, *extra]
    environment = options.view_as(PortableOptions).environment_type
    if not environment:
        extra.append("--environment_type=LOOPBACK")
    if (environment or "LOOPBACK").upper() == "LOOPBACK":
        chosen = options.view_as(PortableOptions).sdk_worker_parallelism
        extra += loopback_worker_args(argv, max(workers, flink.parallelism), chosen)
    if not has_option(argv, "--flink_conf_dir"):
        conf_dir = _flink_script_output("conf-dir")
        if conf_dir and Path(conf_dir, "config.yaml").is_file():
            # A Java job server option (FlinkPipelineOptions.flinkConfDir), passed through.
            extra.append(f"--flink_conf_dir={conf_dir}")
    if _may_ship_no_jars(argv, flink, master):
        detector = _flink_script_output("staging-detector")
        if detector:
            extra.append(f"--pipeline_resources_detector_factory_class={detector}")
    return [*argv, *extra]


def loopback_worker_args(argv: Sequence[str], workers: int, chosen: int | str) -> list[str]:
    """Python worker processes for a LOOPBACK job that needs more than one worker.

    Flink starts ``--sdk_worker_parallelism`` workers per TaskManager (1 by default; 0 lets it
    choose) and hands each stage instance, as it opens, to the next of them in turn; a
    LOOPBACK worker is this process, so all the job's Python code would share one interpreter
    lock. ``workers`` is how many the job asks for (at least its parallelism; the launcher asks
    more for a live job); an explicit ``--sdk_worker_parallelism`` (``chosen``, as Beam parsed
    it) wins. Measured in
    docs/benchmarks.md ("Python worker processes"): a bounded 100k-event run at parallelism 2
    took 16-29 s of job time with one shared worker, 13-17 s with two processes. Beam's
    loopback pool starts the processes as ``python`` (:func:`worker_python_on_path`)."""
    process_workers = "--experiments=use_loopback_process_worker"
    if has_option(argv, "--sdk_worker_parallelism"):
        return [process_workers] if int(chosen) != 1 else []
    return [process_workers, f"--sdk_worker_parallelism={workers}"] if workers > 1 else []


def worker_python_on_path(options: PipelineOptions) -> None:
    """Make ``python`` on the PATH start :mod:`pipelines.loopback_worker` in this interpreter
    when Beam's loopback pool will start worker processes: it starts them as ``python -c ...``
    by that name, which may be another Python without this project's packages (a child that
    dies on import leaves Flink waiting for a worker), or none (Debian has only ``python3``),
    and Beam's command prints a traceback per worker when its job ends. The shim lives in a
    folder of its own, removed when this process exits; the PATH stays so for the rest of the
    process."""
    if not options.view_as(DebugOptions).lookup_experiment("use_loopback_process_worker"):
        return
    path = os.environ.get("PATH", "")
    first = path.split(os.pathsep)[0]
    if first and (Path(first) / WORKER_SHIM_MARK).exists():
        return
    folder = Path(tempfile.mkdtemp(prefix="streamflow-worker-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    (folder / WORKER_SHIM_MARK).touch()
    shim = folder / "python"
    shim.write_text(
        f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m pipelines.loopback_worker "$@"\n'
    )
    shim.chmod(0o755)
    os.environ["PATH"] = os.pathsep.join([str(folder), path]) if path else str(folder)


def cancel_submitted(result: Any, options: PipelineOptions, submitted_ms: float) -> None:
    """Cancel the job behind ``result``. On a Flink master, through its REST API: Ctrl-C in a
    terminal reaches the job server's JVM too (Beam starts it in the launcher's process group),
    and a cancel sent to a dying job server may return without reaching Flink. Beam's Flink job
    service names a job invocation ``<Flink job name>_<uuid>``; only a job of that name started
    since ``submitted_ms`` (epoch milliseconds) is this launcher's."""
    master = options.view_as(FlinkRunnerOptions).flink_master
    name = str(getattr(result, "_job_id", "")).rpartition("_")[0]
    # Beam's default master is "[auto]" (embedded) whatever the runner: only a Flink run that
    # named a cluster has one to ask.
    if not name or master in _EMBEDDED_MASTERS:
        result.cancel()
        return
    base = master if "://" in master else f"http://{master}"
    try:
        with urllib.request.urlopen(f"{base}/jobs/overview", timeout=10) as response:
            jobs = json.load(response)["jobs"]
        for job in jobs:
            ours = job["name"] == name and job["start-time"] >= submitted_ms
            if ours and job["state"] not in _ENDED_STATES:
                cancel = urllib.request.Request(f"{base}/jobs/{job['jid']}?mode=cancel")
                cancel.method = "PATCH"
                urllib.request.urlopen(cancel, timeout=10).close()
    except OSError as error:  # URLError, a timeout, a refused connection
        raise FlinkSetupError(
            f"could not cancel job {name} at {master} ({error}): cancel it in Flink's web UI"
        ) from None


# Flink's globally terminal job states, and SUSPENDED: nothing left to cancel.
_ENDED_STATES = ("FINISHED", "CANCELED", "FAILED", "SUSPENDED")


def _may_ship_no_jars(argv: Sequence[str], flink: FlinkRunnerOptions, master: str) -> bool:
    """Whether the job goes from the provisioned job server to the project's cluster, which
    then carries that job server's jars (``scripts/flink.sh staging-detector`` says whether it
    does): another job server's classes, or another local Flink, would be missing them."""
    if has_option(argv, "--pipeline_resources_detector_factory_class"):
        return False
    if flink.flink_job_server_jar or os.environ.get(JOB_SERVER_JAR_ENV):
        return False
    ours = _flink_script_output("master")
    return ours is not None and _address(master).port == _address(ours).port


def is_local_master(master: str) -> bool:
    if master in _EMBEDDED_MASTERS:
        return True
    return _address(master).hostname in _LOCAL_HOSTS


def _address(master: str) -> ParseResult:
    """A Flink master as a URL: ``host:port`` is how Beam takes it, with or without a scheme."""
    return urlparse(master if "://" in master else f"http://{master}")


def provisioned_job_server_jar() -> str:
    jar = os.environ.get(JOB_SERVER_JAR_ENV) or _flink_script_output("job-server-jar")
    if not jar or not Path(jar).is_file():
        raise FlinkSetupError(
            f"no Flink job server jar{f' at {jar}' if jar else ''}: run scripts/flink.sh "
            f"provision (or start), set {JOB_SERVER_JAR_ENV}, or pass --flink_job_server_jar"
        )
    return jar


def _flink_script_output(command: str) -> str | None:
    """What ``scripts/flink.sh <command>`` prints; ``None`` outside a checkout."""
    return script_output(FLINK_SCRIPT, command, FlinkSetupError)
