"""The browser tests' chromium: Debian's build driven headless by Playwright's sync API."""

from __future__ import annotations

import os

import pytest

from tests.frontend.helpers import record_errors

CHROMIUM = "/usr/bin/chromium"
# No sandbox: the tests run as root in a container; the rest keeps chromium from calling home during a test.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (make chromium installs it)")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop in this thread
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(browser):
    """A desktop-sized page whose ``js_errors`` list collects its script errors and failed requests."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.js_errors = []
    record_errors(page, page.js_errors)
    return page
