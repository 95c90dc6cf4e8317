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
    [(CANCELLED, 0), ("raise KeyboardInterrupt", 130)],
)
def test_a_job_that_ends_leaves_no_traceback(code: str, returncode: int) -> None:
    done = worker("-c", code)
    assert (done.returncode, done.stderr) == (returncode, "")


@pytest.mark.parametrize("code", [UNAVAILABLE, "raise ValueError('broken')"])
def test_a_worker_that_fails_says_why(code: str) -> None:
    done = worker("-c", code)
    assert done.returncode == 1
    assert "Traceback" in done.stderr


def test_another_command_line_is_refused_in_one_line() -> None:
    done = worker("script.py")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
