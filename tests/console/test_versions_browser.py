"""The versions pages in a real browser (headless Chromium), served for real with the backtest
worker, on a real PostgreSQL and broker: a supervisor backtests a candidate, sees its pictures
(allowed by the page's Content-Security-Policy), and promotes it. The picture of a finished
backtest lands in docs/console/backtest.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from console.settings import Settings
from tests.console.browser import chromium, element, log_in, screenshot, served, submit
from tests.console.conftest import PASSWORD
from tests.console.relay_check import read_topic
from tests.console.test_versions import (  # noqa: F401 (fixtures)
    LOWER,
    history,
    versions_settings,
)
from tests.kafka.live import Topics
from tests.services import service_script
from transforms.domain.rules_registry import RulesChange, parse_rules_change

pytestmark = [pytest.mark.browser, pytest.mark.kafka]
PICTURES = Path(__file__).resolve().parents[2] / "docs" / "console"


@pytest.fixture(scope="module")
def browser_installed() -> None:
    service_script("console", "browser", timeout=900)


def _status(driver: object) -> str | None:
    try:
        found = driver.find_elements(By.ID, "status")  # type: ignore[attr-defined]
        return found[0].text if found else None
    except WebDriverException:  # the page refreshed meanwhile (stale, or its node gone)
        return None


def test_a_supervisor_backtests_and_promotes_in_the_browser(
    browser_installed: None,
    versions_settings: Settings,  # noqa: F811
    bootstrap_servers: str,
    topics: Topics,
) -> None:
    settings = versions_settings
    with served(settings) as base, chromium() as driver:
        log_in(driver, base, "sofia", PASSWORD)
        driver.get(f"{base}/queue")
        element(driver, "versions-link").click()
        form = element(driver, "backtest-form")
        form.find_element(By.NAME, "rules").send_keys(LOWER)
        for name, value in (("from", "2026-10-03"), ("to", "2026-10-05")):
            field = form.find_element(By.NAME, name)
            driver.execute_script("arguments[0].value = arguments[1]", field, value)
        form.find_element(By.NAME, "note").send_keys("lower for the campaign")
        submit(driver, element(driver, "run-backtest"))
        # The page refreshes itself while the backtest runs.
        WebDriverWait(driver, 300, poll_frequency=1).until(
            lambda d: _status(d) in ("done", "failed")
        )
        assert _status(driver) == "done", driver.find_element(By.TAG_NAME, "body").text[:2000]
        pictures = driver.find_elements(By.CSS_SELECTOR, ".charts img")
        assert len(pictures) == 2
        for picture in pictures:
            assert driver.execute_script("return arguments[0].naturalWidth", picture) > 0
        screenshot(driver, PICTURES / "backtest.png")
        submit(driver, element(driver, "promote"))
        assert "published to the running jobs" in element(driver, "promoted").text
        [record] = read_topic(bootstrap_servers, topics.rules, 1)
        change = parse_rules_change(record.value())
        assert isinstance(change, RulesChange)
        assert change.author == "sofia"
