"""The project's local Prometheus (scripts/prometheus.sh) and its HTTP API, as the tests use
them."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
import urllib.request
from typing import Any

from tests.services import SCRIPTS, service_script

MAX_FOR_VARIABLE = "STREAMFLOW_PROMETHEUS_MAX_FOR"


def start(max_for: str | None = None) -> str:
    """Starts the local Prometheus, or reloads it with these rules; its URL. ``max_for`` caps
    every alert's ``for:`` (scripts/prometheus_rules.py --max-for); None: the PrometheusRule's
    own durations."""
    env = {key: value for key, value in os.environ.items() if key != MAX_FOR_VARIABLE}
    if max_for is not None:
        env[MAX_FOR_VARIABLE] = max_for
    subprocess.run(
        [str(SCRIPTS / "prometheus.sh"), "start"],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    return service_script("prometheus", "url")


def api(url: str, path: str, **params: str) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{url}/api/v1/{path}{query}", timeout=10) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return answer["data"]


def query(url: str, expr: str) -> list[dict[str, Any]]:
    """An instant query's samples: ``{"metric": labels, "value": [time, "text"]}`` each."""
    data = api(url, "query", query=expr)
    assert data["resultType"] == "vector", data
    result: list[dict[str, Any]] = data["result"]
    return result


def alert_state(url: str, alertname: str, **labels: str) -> str | None:
    """``firing``, ``pending``, or None: the state of the alert with these labels."""
    for alert in api(url, "alerts")["alerts"]:
        found = alert["labels"]
        if found.get("alertname") == alertname and all(
            found.get(key) == value for key, value in labels.items()
        ):
            return str(alert["state"])
    return None
