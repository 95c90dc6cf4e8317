"""The console served for real (uvicorn on a free port, in a thread) and headless Chromium
driven through Selenium: Debian's chromium and chromium-driver, installed by
``scripts/console.sh browser`` (downloaded browser builds are not reachable here)."""

from __future__ import annotations

import base64
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from console.settings import Settings
from console.web import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(settings: Settings) -> Iterator[str]:
    """The console on a free local port; its base URL."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the console did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a profile of its own. ``--no-sandbox``: the tests may run as
    root, where Chromium's sandbox refuses to start."""
    with tempfile.TemporaryDirectory(prefix="streamflow-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,1000",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(argument)
        # The driver's path given: Selenium Manager would try to download one.
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        driver.implicitly_wait(5)
        try:
            yield driver
        finally:
            driver.quit()


def log_in(driver: webdriver.Chrome, base: str, name: str, password: str) -> None:
    driver.get(f"{base}/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    submit(driver, driver.find_element(By.ID, "login"))


def submit(driver: webdriver.Chrome, button: WebElement) -> None:
    """Click a button that sends a form, and wait for the page the server answers with."""
    mark_page(driver)
    button.click()
    wait_for_next_page(driver)


def mark_page(driver: webdriver.Chrome) -> None:
    """Mark the page shown now, so that ``wait_for_next_page`` knows when another replaced it.

    A new document has a new global object, so the mark is gone once the answer is shown.
    Selenium's ``staleness_of`` asks the old page's node instead, and Chromium may answer that
    with an error of another kind ("Node with given id does not belong to the document")."""
    driver.execute_script("window.streamflowOldPage = true")


def wait_for_next_page(driver: webdriver.Chrome, timeout: float = 15) -> None:
    # While the navigation commits, a script may fail (no context yet): ask again.
    WebDriverWait(driver, timeout, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script(
            "return !window.streamflowOldPage && document.readyState === 'complete'"
        )
    )


def screenshot(driver: webdriver.Chrome, path: Path) -> None:
    """The whole page, beyond the window (Chromium's DevTools capture)."""
    width, height = driver.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, e.scrollHeight];"
    )
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        },
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def element(driver: webdriver.Chrome, element_id: str) -> Any:
    """The element with this id; a missing one fails with the page's text (what was shown
    instead: a refusal, an error)."""
    found = driver.find_elements(By.ID, element_id)
    shown = driver.find_element(By.TAG_NAME, "body").text[:2000]
    assert found, f"no #{element_id} on {driver.current_url}: {shown}"
    return found[0]
