"""Browser test: a volunteer logs in through the form and opens an alert page; the three stamps and the bokeh
light curve render. Saves test-artifacts/screenshots/alert_page.png."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.frontend.helpers import SCREENSHOTS, log_in_when_asked

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_volunteer_sees_the_stamps_and_the_light_curve(live_server, browser_page, volunteer, demo_alerts):
    from labeling.models import LightCurvePoint

    page = browser_page
    # A bright real transient with a light curve of several points: the page at its most telling.
    alert = min(
        (
            a
            for a in demo_alerts
            if a.demo_truth == "real" and LightCurvePoint.objects.filter(object_id=a.object_id).count() >= 5
        ),
        key=lambda a: a.magpsf,
    )

    log_in_when_asked(page, live_server.url, f"/alerts/{alert.candid}/", volunteer.username, PASSWORD)

    for kind in ("science", "template", "difference"):
        stamp = page.locator(f"#stamp-{kind}")
        stamp.wait_for(state="visible")
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=stamp.element_handle(), timeout=10_000
        )
        assert stamp.evaluate("img => img.naturalWidth") == 252
    page.locator("#lightcurve-plot canvas").first.wait_for(state="attached", timeout=15_000)
    assert page.locator("#lightcurve-plot .lc-loading").count() == 0
    assert page.get_by_text("ZScale, north up, east left").is_visible()

    page.click("button[data-stretch=asinh]")
    page.wait_for_function(
        "() => document.querySelector('#stamp-difference').src.includes('stretch=asinh')"
        " && document.querySelector('#stamp-difference').complete"
    )
    assert page.locator("button[data-stretch=asinh]").get_attribute("aria-pressed") == "true"
    page.keyboard.press("l")  # back to linear, the default a volunteer sees, for the screenshot
    page.wait_for_function(
        "() => document.querySelector('#stamp-difference').src.includes('stretch=linear')"
        " && document.querySelector('#stamp-difference').complete"
    )
    page.wait_for_timeout(300)  # let bokeh finish its first paint before the screenshot

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "alert_page.png"), full_page=True)
    assert page.js_errors == []
