"""The dashboard in a real headless browser: Debian's chromium and its chromedriver, driven by Selenium.

`scripts/test` installs them (scripts/test-browser.sh) and names them in AZVM_TEST_CHROMIUM and
AZVM_TEST_CHROMEDRIVER; without them the browser tests skip, saying why. The browser trusts azvm's
own certificate by its public key (`--ignore-certificate-errors-spki-list`), no other.

Waits are Selenium's explicit waits (on a condition, never a fixed sleep); the emulator's clock is
the fixture's manual clock, moved only by the page or the test.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from azvm.testing import AzvmServer

PHONE = (390, 844)
DESKTOP = (1280, 800)
WAIT_SECONDS = 20


def find_browser() -> tuple[str | None, str | None, str]:
    """(chromium, chromedriver, why not) from AZVM_TEST_CHROMIUM/AZVM_TEST_CHROMEDRIVER, else PATH."""
    missing = os.environ.get("AZVM_TEST_BROWSER_MISSING", "")
    chromium = os.environ.get("AZVM_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("AZVM_TEST_CHROMEDRIVER") or shutil.which("chromedriver")
    if chromium and driver and Path(chromium).exists() and Path(driver).exists():
        return chromium, driver, ""
    return None, None, missing or ("no chromium with chromedriver: scripts/test installs them (apt-get), or set"
                                   " AZVM_TEST_CHROMIUM and AZVM_TEST_CHROMEDRIVER")


def spki_pin(cert: Path) -> str:
    """base64(sha256(SubjectPublicKeyInfo)) of a PEM certificate: what chromium's SPKI list takes."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    c = x509.load_pem_x509_certificate(cert.read_bytes())
    spki = c.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


class Browser:
    """A headless chromium for one azvm server."""

    def __init__(self, server: AzvmServer, tmp: Path, size: tuple[int, int] = DESKTOP) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        chromium, driver, why = find_browser()
        if chromium is None or driver is None:
            pytest.skip(why)
        tmp.mkdir(parents=True, exist_ok=True)
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--no-first-run", "--disable-extensions", f"--window-size={size[0]},{size[1]}",
                    f"--user-data-dir={tmp / 'profile'}", "--force-device-scale-factor=1"):
            options.add_argument(arg)
        if server.cert is not None:
            options.add_argument(f"--ignore-certificate-errors-spki-list={spki_pin(server.cert)}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.server = server
        self.driver = webdriver.Chrome(service=Service(driver), options=options)
        self.driver.set_window_size(*size)
        self.shots = tmp

    def open(self, fragment: str = "") -> None:
        self.driver.get(f"{self.server.endpoint}/{fragment}")

    def wait(self, condition: Callable[[Any], Any], message: str = "", timeout: float = WAIT_SECONDS) -> Any:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout).until(condition, message)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def css(self, selector: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def click(self, selector: str) -> None:
        """Click the element the selector finds. The page redraws its tables as it polls, so an
        element found a moment before may be gone by the click: find it again and retry until it
        takes (Selenium's wait ignoring StaleElementReferenceException), as a user clicks what is shown."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        def attempt(_: Any) -> bool:
            self.css(selector).click()
            return True

        WebDriverWait(self.driver, WAIT_SECONDS, ignored_exceptions=[StaleElementReferenceException]).until(
            attempt, f"could not click {selector}")

    def text(self, selector: str) -> str:
        value = self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : null", selector)
        return "" if value is None else str(value)

    def errors(self) -> list[str]:
        """The page's console errors (a missing favicon aside)."""
        return [e["message"] for e in self.driver.get_log("browser")
                if e["level"] == "SEVERE" and "favicon" not in e["message"]]

    def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def close(self) -> None:
        self.driver.quit()


@pytest.fixture
def browser_factory(tmp_path: Path) -> Iterator[Callable[..., Browser]]:
    """Browsers for a server, closed at the end of the test (before its server stops). Screenshots are
    kept in the test's tmp dir (pytest keeps the last runs' under its basetemp)."""
    made: list[Browser] = []

    def make(server: AzvmServer, size: tuple[int, int] = DESKTOP) -> Browser:
        b = Browser(server, tmp_path / f"browser{len(made)}", size)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()
