"""Shared Playwright waits for the browser tests."""

from __future__ import annotations


def wait_for_images(page, selector: str, at_least: int = 0, timeout: float | None = None) -> None:
    """Wait until at least ``at_least`` images match ``selector`` and every one of them has arrived and decoded
    (a screenshot or an assertion taken earlier sees a blank box)."""
    page.wait_for_function(
        "([sel, n]) => { const imgs = [...document.querySelectorAll(sel)];"
        " return imgs.length >= n && imgs.every(i => i.complete && i.naturalWidth > 0); }",
        arg=[selector, at_least],
        timeout=timeout,  # None: the page's default
    )
