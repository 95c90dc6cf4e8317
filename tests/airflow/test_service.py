"""The local Airflow that scripts/airflow.sh runs: Airflow 3 in its own virtualenv, its four
services healthy, its metadata in the project's PostgreSQL, this repository's DAG folder.

The DAGs themselves are tested in their own modules; this checks the service they run in.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.services import service_script

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def airflow_url() -> str:
    service_script("airflow", "start", timeout=900)
    return service_script("airflow", "url")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_every_airflow_service_is_healthy(airflow_url: str) -> None:
    health = _get(f"{airflow_url}/api/v2/monitor/health")
    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[component]["status"] == "healthy", health


def test_airflow_runs_in_its_own_environment_on_the_project_database(airflow_url: str) -> None:
    def airflow_config(section: str, key: str) -> str:
        done = subprocess.run(
            [str(ROOT / "scripts" / "airflow.sh"), "run", "config", "get-value", section, key],
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()

    assert airflow_config("core", "dags_folder") == str(ROOT / "airflow" / "dags")
    assert airflow_config("core", "executor") == "LocalExecutor"
    database = airflow_config("database", "sql_alchemy_conn")
    assert database.startswith("postgresql+psycopg2://")
    assert database.endswith("/airflow")
    # Never the pipeline's virtualenv: the Beam provider needs a newer Beam than the pipeline.
    probe = (
        "from importlib.metadata import version as v; print(v('apache-airflow'), v('apache-beam'))"
    )
    airflow_python = str(ROOT / ".venv-airflow" / "bin" / "python")
    done = subprocess.run([airflow_python, "-c", probe], check=True, capture_output=True, text=True)
    versions = done.stdout.split()
    assert versions == ["3.3.2", "2.77.0"]
    # There is no importable package named airflow in the repository.
    assert not (ROOT / "airflow" / "__init__.py").exists()
