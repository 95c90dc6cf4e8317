"""The loopback worker process: quiet when its job ends, loud when it fails."""

from __future__ import annotations

import subprocess
import sys

import pytest

CANCELLED = """
import grpc
class Cancelled(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.CANCELLED
raise Cancelled("Runner closed connection")
"""
UNAVAILABLE = CANCELLED.replace("CANCELLED", "UNAVAILABLE")
# As Beam's data plane meets a cancelled job in its reading thread: it logs the failure with
# its traceback, and the thread dies of it, while the main thread ends normally.
IN_A_THREAD = """
import logging, threading
import grpc
class Cancelled(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.CANCELLED
def read_inputs():
    try:
        raise Cancelled("Multiplexer hanging up")
    except Exception:
        logging.getLogger("apache_beam.runners.worker.data_plane").error(
            "Failed to read inputs in the data plane.", exc_info=True
        )
        raise
thread = threading.Thread(target=read_inputs, name="read_grpc_client_inputs")
thread.start()
thread.join()
"""


def worker(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.loopback_worker", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_worker_runs_the_pools_command() -> None:
    done = worker("-c", "print(__name__)")
    assert (done.returncode, done.stdout, done.stderr) == (0, "__main__\n", "")


@pytest.mark.parametrize(
    ("code", "returncode"),
    [(CANCELLED, 0), ("raise KeyboardInterrupt", 130), (IN_A_THREAD, 0)],
)
def test_a_job_that_ends_leaves_no_traceback(code: str, returncode: int) -> None:
    done = worker("-c", code)
    assert (done.returncode, done.stderr) == (returncode, "")


@pytest.mark.parametrize("code", [UNAVAILABLE, "raise ValueError('broken')"])
def test_a_worker_that_fails_says_why(code: str) -> None:
    done = worker("-c", code)
    assert done.returncode == 1
    assert "Traceback" in done.stderr


def test_a_thread_that_fails_otherwise_still_says_why() -> None:
    done = worker("-c", IN_A_THREAD.replace("CANCELLED", "UNAVAILABLE"))
    assert done.returncode == 0  # the main thread ended normally
    assert done.stderr.count("Traceback") == 2  # the log record's and the thread's


def test_another_command_line_is_refused_in_one_line() -> None:
    done = worker("script.py")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
