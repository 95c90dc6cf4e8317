"""A real standalone Flink cluster for the FlinkRunner tests.

``scripts/flink.sh start`` provisions (once) and starts the project's local cluster; it is
idempotent, and .ci/run starts it before the suite. The cluster is left running: it serves
the whole session and the next one.
"""

from __future__ import annotations

import pytest

from tests.services import service_script


@pytest.fixture(scope="session")
def flink_master() -> str:
    service_script("flink", "start", timeout=900)
    return service_script("flink", "master")
