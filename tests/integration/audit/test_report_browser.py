"""The HTML report as a studio lead sees it: headless Chromium opens the written file.

The page must load without console errors, show the numbers the ledger holds, display every
thumbnail (inline `data:` images that decode), render hostile prompts as text, and show the
chain badge as intact, or as broken once a row has been edited behind the ledger's back.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from provenance.errors import EXIT_OK, EXIT_VERIFICATION_FAILED

if TYPE_CHECKING:
    from conftest import AuditCli, AuditedStudio

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


def _open(browser: Any, page: Path) -> None:
    browser.get(page.resolve().as_uri())
    browser.execute_script("return document.readyState")  # waits for the load to finish
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe


def _metric(browser: Any, selector: str) -> int:
    from selenium.webdriver.common.by import By

    element = browser.find_element(By.CSS_SELECTOR, selector)
    shown = int(element.text.replace(",", ""))
    assert shown == int(element.get_attribute("data-value"))
    return shown


def _write(cli: AuditCli, page: Path, expected: int) -> None:
    result = cli("audit", "report", "--html", page)
    assert result.exit_code == expected, result.output


def test_report_shows_the_ledger(
    browser: Any, audited: AuditedStudio, cli: AuditCli, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    page = tmp_path / "report.html"
    _write(cli, page, EXIT_OK)
    _open(browser, page)

    assets = audited.count("SELECT count(*) FROM assets")
    refusals = audited.count("SELECT count(*) FROM refusals")
    blocked = audited.count("SELECT count(*) FROM refusals WHERE action = 'block'")
    assert blocked > 0
    assert _metric(browser, 'dd[data-metric="entries"]') == assets + refusals
    assert _metric(browser, 'dd[data-metric="assets"]') == assets
    assert _metric(browser, 'dd[data-metric="refusals"]') == refusals
    assert _metric(browser, 'tr[data-verdict="block"] td[data-metric="refusals"]') == blocked
    rows = browser.find_elements(By.CSS_SELECTOR, "#generators tr[data-generator]")
    shown = {row.get_attribute("data-generator") for row in rows}
    generators = {g for (g,) in audited.sql("SELECT generator FROM assets")} | {
        g for (g,) in audited.sql("SELECT generator FROM refusals")
    }
    assert shown == generators
    for generator in generators:
        row = f'#generators tr[data-generator="{generator}"]'
        for kind, table in (("assets", "assets"), ("refusals", "refusals")):
            count = f"SELECT count(*) FROM {table} WHERE generator = :g"
            assert _metric(browser, f'{row} td[data-metric="{kind}"]') == audited.count(
                count, g=generator
            )

    thumbnails = browser.find_elements(By.CSS_SELECTOR, "#assets img.thumb")
    assert len(thumbnails) == assets
    for image in thumbnails:
        assert image.get_attribute("src").startswith("data:image/jpeg;base64,")
        loaded = browser.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth", image
        )
        assert loaded and loaded > 0
    assert browser.find_elements(By.TAG_NAME, "script") == []
    assert len(browser.find_elements(By.TAG_NAME, "img")) == assets  # no injected <img>
    prompts = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "td.prompt")]
    assert audited.HOSTILE_PROMPT in prompts  # shown as the text it is
    rows_text = (
        browser.find_element(By.ID, "assets").text + browser.find_element(By.ID, "refusals").text
    )
    assert audited.HOSTILE_REQUESTER in rows_text and audited.INJECTION_REQUESTER in rows_text

    badge = browser.find_element(By.ID, "chain")
    assert badge.get_attribute("data-chain") == "intact"
    assert badge.text.startswith(f"Chain intact: {assets + refusals} entries")


def test_tampered_row_turns_the_badge_broken(
    browser: Any, audited: AuditedStudio, cli: AuditCli, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    (asset_id, seq) = audited.sql("SELECT asset_id, seq FROM assets ORDER BY seq DESC")[0]
    page = tmp_path / "tampered.html"
    with audited.changed_row("assets", asset_id, "requester", "someone-else"):
        _write(cli, page, EXIT_VERIFICATION_FAILED)
    _open(browser, page)
    badge = browser.find_element(By.ID, "chain")
    assert badge.get_attribute("data-chain") == "broken"
    assert badge.get_attribute("data-bad-id") == asset_id
    assert badge.text.startswith(f"Chain broken at seq {seq} (asset {asset_id}): hash mismatch")
    assert "broken" in badge.get_attribute("class").split()
