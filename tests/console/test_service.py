"""scripts/console.sh: the console and its relay as a local service, like the others."""

from __future__ import annotations

import subprocess
import urllib.request

import pytest

from tests.services import service_script

pytestmark = pytest.mark.kafka  # the relay publishes to the project's broker


def answers(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except OSError:
        return 0


def test_the_script_starts_serves_and_stops_the_console(bootstrap_servers: str) -> None:
    started = service_script("console", "start", timeout=300)
    url = service_script("console", "url")
    assert started == f"console ready: {url}"
    assert answers(f"{url}/healthz") == 200
    assert service_script("console", "status").splitlines()[:2] == [
        "serve: running",
        "relay: running",
    ]
    assert service_script("console", "dsn").startswith("postgresql://streamflow_console@")
    service_script("console", "stop")
    assert answers(f"{url}/healthz") == 0
    with pytest.raises(subprocess.CalledProcessError) as stopped:
        service_script("console", "status")
    assert "serve: stopped" in stopped.value.stdout
