"""`provenant serve` as people use it: the real console script on a free port, headless
Chromium (Debian's chromium + chromedriver, as the report test uses) picking files on `/`
and logging in to `/audit`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import ServedStudio

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROME_ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--window-size=1280,2000",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(served: ServedStudio) -> Iterator[str]:
    """`provenant serve --workers 2` in a subprocess; yields its base URL once it answers.

    Two worker processes: a session cookie set by one must be accepted by the other (one
    secret in the data dir, no session table)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANT_")}
    env["PROVENANT_HOME"] = str(served.home)
    script = Path(sys.executable).parent / "provenant"
    process = subprocess.Popen(
        [str(script), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"provenant serve exited {process.returncode}: {output}")
        try:
            with urllib.request.urlopen(url + "/", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"provenant serve did not answer on {url} within {timeout}s")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module, with the browser console log kept."""
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.skip("headless Chromium and chromedriver are not installed (/usr/bin/chromium)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in CHROME_ARGUMENTS:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _pick(browser: Any, url: str, path: Path) -> Any:
    """Open `/`, pick `path` in the file input (the page's script submits it), and return
    the result card."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    browser.get(url + "/")
    browser.find_element(By.ID, "files").send_keys(str(path))
    card = WebDriverWait(browser, 60).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "section.result"))
    )
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe
    return card


def test_a_signed_image_reads_trusted_with_its_record(
    browser: Any, server: str, served: ServedStudio
) -> None:
    from selenium.webdriver.common.by import By

    card = _pick(browser, server, served.signed)
    assert card.get_attribute("data-state") == "trusted"
    assert card.find_element(By.CSS_SELECTOR, ".state-words").text == "Trusted"
    assert "Created with generative AI" in card.find_element(By.CSS_SELECTOR, ".ai-disclosure").text
    assert "DEVELOPMENT ONLY" in card.find_element(By.CSS_SELECTOR, ".signer").text
    record = card.find_element(By.CSS_SELECTOR, ".ledger-record")
    assert "same bytes, chain intact" in record.text
    assert card.find_elements(By.CSS_SELECTOR, ".lineage-node")
    preview = card.find_element(By.CSS_SELECTOR, "img.preview")
    assert browser.execute_script("return arguments[0].naturalWidth", preview) > 0


def test_an_edited_image_shows_its_lineage(browser: Any, server: str, served: ServedStudio) -> None:
    from selenium.webdriver.common.by import By

    card = _pick(browser, server, served.edited)
    assert card.find_element(By.CSS_SELECTOR, ".state-words").text == "Trusted"
    nodes = card.find_elements(By.CSS_SELECTOR, ".lineage-node")
    assert len(nodes) == 2  # the edit, and the signed original it was made from
    parent = card.find_element(By.CSS_SELECTOR, '.lineage li[data-relationship="parentOf"]')
    assert "credentials Trusted" in parent.text
    manifest = card.find_element(By.CSS_SELECTOR, "ul.ingredients").text
    assert "parentOf" in manifest


def test_a_tampered_image_names_the_failing_check(
    browser: Any, server: str, served: ServedStudio
) -> None:
    from selenium.webdriver.common.by import By

    card = _pick(browser, server, served.tampered)
    assert card.get_attribute("data-state") == "invalid"
    assert card.find_element(By.CSS_SELECTOR, ".state-words").text == "Invalid"
    checks = [li.text for li in card.find_elements(By.CSS_SELECTOR, ".failing-check")]
    assert any("assertion.dataHash.mismatch" in text for text in checks), checks


def _log_in(browser: Any, url: str, user: str, password: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.delete_all_cookies()
    browser.get(url + "/audit")
    assert "/audit/login" in browser.current_url
    browser.find_element(By.NAME, "username").send_keys(user)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    # The next page's elements only once the redirect away from the login page has loaded
    # (else they may belong to the old document).  Every login here succeeds.
    WebDriverWait(browser, 15).until(
        lambda b: (
            "/audit/login" not in b.current_url
            and b.execute_script("return document.readyState") == "complete"
        )
    )


def test_each_role_sees_what_it_may(browser: Any, server: str, served: ServedStudio) -> None:
    from selenium.webdriver.common.by import By

    _log_in(browser, server, "lena", served.password)
    badge = browser.find_element(By.ID, "chain")
    assert badge.get_attribute("data-chain") == "intact"
    assert browser.find_elements(By.CSS_SELECTOR, "#assets tr[data-asset]")
    _log_in(browser, server, "alice", served.password)
    assert "may not do this" in browser.find_element(By.TAG_NAME, "body").text
