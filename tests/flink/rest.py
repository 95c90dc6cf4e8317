"""The local Flink cluster's REST API, as the tests use it."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def flink_get(master: str, path: str) -> Any:
    with urllib.request.urlopen(f"http://{master}{path}", timeout=10) as response:
        return json.load(response)


def running_job_id(master: str, job_name: str) -> str | None:
    jobs = flink_get(master, "/jobs/overview")["jobs"]
    running = [job for job in jobs if job_name in job["name"] and job["state"] == "RUNNING"]
    return str(running[0]["jid"]) if running else None


def cancel_job(master: str, job_id: str) -> None:
    request = urllib.request.Request(f"http://{master}/jobs/{job_id}?mode=cancel", method="PATCH")
    with urllib.request.urlopen(request, timeout=10):
        pass
