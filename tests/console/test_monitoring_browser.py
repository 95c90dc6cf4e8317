"""/monitoring in a real browser (headless Chromium through Selenium), the console served for
real, drawing the dashboards from a real Prometheus (backfilled: tests/console/
prometheus_server.py) and the warehouse. Its picture lands in docs/console/monitoring.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from selenium.webdriver.common.by import By

from console.settings import Settings
from console.users import add_user
from tests.console.browser import chromium, element, log_in, screenshot, served, submit
from tests.console.conftest import PASSWORD
from tests.console.prometheus_server import backfilled_prometheus
from tests.console.seed import seed_store_minutes
from tests.services import service_script

pytestmark = [pytest.mark.browser, pytest.mark.prometheus]
PICTURE = Path(__file__).resolve().parents[2] / "docs" / "console" / "monitoring.png"
STORES = ("store-0042", "store-0107", "store-0311", "store-0500", "store-0777", "store-0913")


@pytest.fixture(scope="module")
def base_url(
    console_dsn: str, warehouse_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    service_script("console", "browser", timeout=900)
    with psycopg.connect(warehouse_dsn, autocommit=True) as connection:
        found = connection.execute("SELECT to_regclass('silver.store_minute_metrics')").fetchone()
    if found and found[0] is not None:
        seed_store_minutes(warehouse_dsn, STORES, minutes=180)
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        add_user(connection, "olga", "supervisor", PASSWORD)
        add_user(connection, "ana", "analyst", PASSWORD)
    with (
        backfilled_prometheus(tmp_path_factory.mktemp("prometheus")) as prometheus_url,
        served(Settings(dsn=console_dsn, prometheus_url=prometheus_url)) as url,
    ):
        yield url


def test_a_supervisor_reads_the_dashboards(base_url: str) -> None:
    with chromium() as driver:
        log_in(driver, base_url, "olga", PASSWORD)
        submit(driver, element(driver, "monitoring-link"))
        assert element(driver, "monitoring").get_attribute("data-uid") == "streamflow-fraud"
        for uid in ("streamflow-operations", "streamflow-retail", "streamflow-fraud"):
            tab = driver.find_element(By.CSS_SELECTOR, f'#dashboards a[data-uid="{uid}"]')
            submit(driver, tab)
            shown = element(driver, "monitoring")
            assert shown.get_attribute("data-uid") == uid
            assert not driver.find_elements(By.CSS_SELECTOR, ".panel-error"), uid
            assert shown.find_elements(By.CSS_SELECTOR, "svg"), uid
            # The stylesheet applied (the CSP let it in): panels side by side in a grid.
            assert shown.value_of_css_property("display") == "grid"
            if uid == "streamflow-operations":
                screenshot(driver, PICTURE)
        submit(driver, driver.find_element(By.LINK_TEXT, "last 15m"))
        assert driver.current_url.endswith("range=15m")


def test_an_analyst_is_refused(base_url: str) -> None:
    with chromium() as driver:
        log_in(driver, base_url, "ana", PASSWORD)
        assert not driver.find_elements(By.ID, "monitoring-link")
        driver.get(f"{base_url}/monitoring")
        assert "only a supervisor" in element(driver, "refused").text
