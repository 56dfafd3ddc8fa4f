"""Shared steps of the browser tests: logging in through the form, watching for errors, Playwright waits."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DEMO_PASSWORD = "blink-demo"  # create_demo_users' default, as `make run` sets the demo accounts up


def record_errors(page, errors: list[str], *, from_status: int = 400) -> None:
    """Append the page's script errors and its failed requests to ``errors``. A failed request names its URL
    here (the console only says "404"); the browser's own favicon probe is not the page's doing."""
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "response",
        lambda r: (
            r.status >= from_status and not r.url.endswith("/favicon.ico") and errors.append(f"{r.status} {r.url}")
        ),
    )


def submit_login_form(page, username: str, password: str = DEMO_PASSWORD, *, press_enter: bool = False) -> None:
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    if press_enter:
        page.keyboard.press("Enter")
    else:
        page.click("button[type=submit]")


def wait_for_path(page, path: str) -> None:
    """Wait until the page is at ``path`` itself: a glob such as ``**/`` would also match the login form."""
    page.wait_for_url(lambda url: urlsplit(url).path == path)


def log_in(page, base: str, username: str, next_url: str = "/", **form) -> None:
    """Log in through the form and wait to land on ``next_url`` (``form``: submit_login_form's options)."""
    page.goto(f"{base}/accounts/login/?next={next_url}")
    submit_login_form(page, username, **form)
    wait_for_path(page, next_url)


def log_in_when_asked(page, base: str, path: str, username: str, password: str) -> None:
    """Open ``path`` anonymously, be sent to the login form, log in there and come back to ``path``."""
    page.goto(f"{base}{path}")
    page.wait_for_url("**/accounts/login/**")
    submit_login_form(page, username, password)
    wait_for_path(page, path)


def wait_for_images(page, selector: str, at_least: int = 0, timeout: float | None = None) -> None:
    """Wait until at least ``at_least`` images match ``selector`` and every one of them has arrived and decoded
    (a screenshot or an assertion taken earlier sees a blank box)."""
    page.wait_for_function(
        "([sel, n]) => { const imgs = [...document.querySelectorAll(sel)];"
        " return imgs.length >= n && imgs.every(i => i.complete && i.naturalWidth > 0); }",
        arg=[selector, at_least],
        timeout=timeout,  # None: the page's default
    )


def shown_candid(page) -> str:
    """The candid of the candidate the classify page shows."""
    return page.locator("#candidate-link").inner_text().strip()


def wait_for_new_candidate(page, previous: str, *, timeout_ms: int = 10_000) -> str:
    """Wait until the classify page shows a candidate other than ``previous``; its candid."""
    page.wait_for_function(
        "prev => { const t = document.querySelector('#candidate-link').textContent.trim();"
        " return /^[0-9]+$/.test(t) && t !== prev; }",
        arg=previous,
        timeout=timeout_ms,
        polling=20,
    )
    return shown_candid(page)
