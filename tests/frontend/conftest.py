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


@pytest.fixture(scope="session", autouse=True)
def _end_leftover_sessions(django_db_setup, django_db_blocker):
    """Playwright's greenlets can leave this process a database session that no test closes; once every test
    has run, end it so the test database can be dropped."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def launched_chromium():
    """Debian's chromium, headless, driven by Playwright (skips the test when it is not installed): the one way
    every browser fixture starts it, whatever its scope."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (make chromium installs it)")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop in this thread
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser():
    yield from launched_chromium()


@pytest.fixture
def browser_page(browser):
    """A desktop-sized page whose ``js_errors`` list collects its script errors and failed requests."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.js_errors = []
    record_errors(page, page.js_errors)
    return page
