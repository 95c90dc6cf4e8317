"""The model's reasons on the alert page: the pipeline's, and the same numbers on demand."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from console.intake import intake
from console.settings import Settings
from console.web import create_app
from pipelines.fraud import run
from pipelines.synthetic import generate_dataset
from pipelines.train_default import train_model
from tests.console.conftest import Account


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = str(tmp_path_factory.mktemp("model"))
    train_model(folder, seed=3, customers=150, days=10)
    return folder


@pytest.fixture(scope="module")
def scored_alerts(
    warehouse_dsn: str, console_dsn: str, model_dir: str, tmp_path_factory: pytest.TempPathFactory
) -> list[str]:
    """The pipeline's alerts, scored with the model, in this module's warehouse."""
    folder = tmp_path_factory.mktemp("run")
    data = generate_dataset(str(folder / "data"), seed=21, customers=80, days=6)
    run(
        [
            f"--input={data.events}",
            f"--blacklist={data.blacklist}",
            f"--output_dir={folder / 'out'}",
            f"--postgres_dsn={warehouse_dsn}",
            f"--model={model_dir}",
        ]
    )
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        intake(connection)
        ids = connection.execute("SELECT alert_id::text FROM console.alert_cases").fetchall()
    assert ids
    return [row[0] for row in ids]


@pytest.fixture(scope="module")
def explaining_client(console_dsn: str, model_dir: str) -> Iterator[TestClient]:
    """The console with the model to explain alerts on demand."""
    with TestClient(create_app(Settings(dsn=console_dsn, model=model_dir))) as client:
        yield client


def test_the_stored_reasons_are_the_models_computed_again(
    explaining_client: TestClient, accounts: dict[str, Account], scored_alerts: list[str]
) -> None:
    headers = accounts["vera"].headers
    client = explaining_client
    for alert_id in scored_alerts[:25]:
        both = client.get(f"/api/alerts/{alert_id}/reasons", headers=headers).json()
        assert both["stored"] is not None
        assert both["stored"] == both["recomputed"]
        detail = client.get(f"/api/alerts/{alert_id}", headers=headers).json()
        assert detail["model_reasons_source"] == "pipeline"
        assert "model_inputs" not in detail["evidence"]


def test_an_alert_without_stored_reasons_is_explained_on_demand(
    explaining_client: TestClient,
    accounts: dict[str, Account],
    scored_alerts: list[str],
    warehouse_dsn: str,
) -> None:
    target = scored_alerts[0]
    with psycopg.connect(warehouse_dsn, autocommit=True) as connection:
        stored = connection.execute(
            "UPDATE bronze.fraud_alerts SET model_reasons = NULL WHERE alert_id = %s "
            "RETURNING (SELECT model_reasons FROM bronze.fraud_alerts WHERE alert_id = %s)",
            (target, target),
        ).fetchone()
    assert stored is not None
    client = explaining_client
    detail = client.get(f"/api/alerts/{target}", headers=accounts["vera"].headers).json()
    assert detail["model_reasons_source"] == "on demand"
    assert detail["model_reasons"] == stored[0]


def test_without_the_model_the_page_says_so(
    client: TestClient, accounts: dict[str, Account], scored_alerts: list[str]
) -> None:
    detail = client.get(f"/api/alerts/{scored_alerts[0]}", headers=accounts["vera"].headers)
    assert detail.json()["model_reasons_source"] == "none"  # its stored reasons were removed
    second = client.get(f"/api/alerts/{scored_alerts[1]}", headers=accounts["vera"].headers)
    assert second.json()["model_reasons_source"] == "pipeline"


def test_the_alert_page_shows_the_reasons(
    explaining_client: TestClient, accounts: dict[str, Account], scored_alerts: list[str]
) -> None:
    from tests.console.test_pages import logged_in

    client = explaining_client
    logged_in(client, "vera")
    page = client.get(f"/alerts/{scored_alerts[1]}").text
    assert 'id="model-reasons"' in page
    assert "isolation-path shares" in page
