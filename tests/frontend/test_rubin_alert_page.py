"""Browser test: a Rubin alert's page shows its three stamps at their own pixel size (enlarged to ZTF's width on
screen) with the pixel scale, shows each cutout's variance and PSF on request, and draws the light curve in flux
first, then in magnitude; a ZTF alert's page keeps its 63×63 at 1.0″/px and has no plane control.
Saves test-artifacts/screenshots/rubin_alert_page.png (and _planes, _magnitude) and rubin_alert_test_classify_page.png."""

from __future__ import annotations

import math
import re

import pytest

from tests.conftest import PASSWORD
from tests.frontend.helpers import SCREENSHOTS, log_in_when_asked, wait_for_images
from tests.labeling.test_rubin_lightcurve import with_forced_photometry

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KINDS = ("science", "template", "difference")


@pytest.fixture
def rubin_alert(tmp_path):
    from labeling.ingest import ingest_paths
    from labeling.models import Alert

    path, record = with_forced_photometry(tmp_path)
    assert ingest_paths([path], workers=0).new == 1
    return Alert.objects.select_related("stamps").get(candid=record["diaSource"]["diaSourceId"])


def stamp_widths(page) -> list[float]:
    wait_for_images(page, "img.alert-stamp", at_least=3, timeout=10_000)
    return [page.locator(f"#stamp-{kind}").bounding_box()["width"] for kind in KINDS]


def arm_angle(page, compass: str, arm: str) -> float:
    """The on-screen direction of a compass arm, in degrees anticlockwise from up: the arm runs from the rose's
    centre, so the middle of its (axis-aligned) box lies along it."""
    box = page.locator(f"{compass}").bounding_box()
    part = page.locator(f"{compass} .compass-{arm}").bounding_box()
    dx = part["x"] + part["width"] / 2 - (box["x"] + box["width"] / 2)
    dy = (box["y"] + box["height"] / 2) - (part["y"] + part["height"] / 2)  # screen y grows downwards
    return math.degrees(math.atan2(-dx, dy))


def turn(a: float, b: float) -> float:
    return (a - b + 180) % 360 - 180


def assert_shows_the_orientation(page, compass: str, orientation: dict, note: str) -> None:
    """The words name the detector's orientation (not north up), and the compass's N arm points as north does,
    its E arm a quarter turn anticlockwise (east left) from it."""
    north = orientation["north_deg"]
    assert re.fullmatch(r"detector orientation: north \d+° (anticlockwise|clockwise) from up, east left", note), note
    assert f"north {round(abs(north))}° {'anticlockwise' if north > 0 else 'clockwise'}" in note
    assert page.locator(compass).is_visible()
    assert page.locator(compass).get_attribute("role") == "img"
    assert page.locator(compass).get_attribute("aria-label") == f"Compass: {note}"
    assert abs(turn(arm_angle(page, compass, "n"), north)) < 4
    assert abs(turn(arm_angle(page, compass, "e"), north + 90)) < 4
    assert page.locator(f"{compass} .compass-n .compass-label").inner_text() == "N"
    assert page.locator(f"{compass} .compass-e .compass-label").inner_text() == "E"


def plot_label(page) -> str:
    return page.locator("#lightcurve-plot [aria-label]").first.get_attribute("aria-label")


def test_a_rubin_alert_page_shows_its_stamps_planes_and_flux_light_curve(
    live_server, browser_page, volunteer, rubin_alert, demo_alerts
):
    page = browser_page
    stamps = rubin_alert.stamps
    pixels = f"{stamps.width}x{stamps.height}"
    log_in_when_asked(page, live_server.url, f"/alerts/{rubin_alert.candid}/", volunteer.username, PASSWORD)

    rubin_widths = stamp_widths(page)
    for kind in KINDS:
        stamp = page.locator(f"#stamp-{kind}")
        assert stamp.get_attribute("data-pixels") == pixels
        # Served enlarged by a whole number of screen pixels per survey pixel.
        assert stamp.evaluate("img => img.naturalWidth") % stamps.width == 0
    sky = f"{stamps.width * 0.2:.1f}".removesuffix(".0")
    assert page.locator("#stamp-scale").inner_text() == f"{stamps.width}×{stamps.height} px at 0.2″/px ({sky}″)"
    assert page.locator("#alert-survey").inner_text() == "Rubin"
    # Not north up: the detector's orientation from the cutout's WCS, in words and as a turned compass.
    orientation = rubin_alert.survey_extra["cutout_orientation"]
    note = page.locator("#stamp-orientation").inner_text()
    assert note.startswith("ZScale, ")
    assert_shows_the_orientation(page, ".stamps-card .compass", orientation, note.removeprefix("ZScale, "))
    fields = page.locator("dl.fields").inner_text()
    assert "Rubin band (u, g, r, i, z or y)" in page.locator("dl.fields dt[title^='Rubin band']").get_attribute("title")
    assert "nJy" in fields
    assert "ZTF filter" not in page.content()

    # The light curve opens in flux, forced photometry drawn apart, and switches to magnitude.
    page.locator("#lightcurve-plot canvas").first.wait_for(state="attached", timeout=15_000)
    assert page.locator("#lightcurve-plot").get_attribute("data-scale") == "flux"
    assert plot_label(page).startswith("Light curve in flux")
    assert "3 forced measurements" in plot_label(page)
    assert page.locator(".lc-scale-btn[data-scale=flux]").get_attribute("aria-pressed") == "true"
    page.wait_for_timeout(300)  # bokeh's first paint
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "rubin_alert_page.png"), full_page=True)

    page.click(".lc-scale-btn[data-scale=mag]")
    page.locator("#lightcurve-plot[data-scale=mag] [aria-label^='Light curve in i']").first.wait_for(timeout=15_000)
    page.locator("#lightcurve-plot canvas").first.wait_for(state="attached", timeout=15_000)
    assert "upper limit" in plot_label(page)
    assert page.locator("#lightcurve-plot [aria-label^='Light curve in flux']").count() == 0
    assert page.locator(".lc-scale-btn[data-scale=mag]").get_attribute("aria-pressed") == "true"
    page.wait_for_timeout(300)
    page.screenshot(path=str(SCREENSHOTS / "rubin_alert_page_magnitude.png"), full_page=True)

    # The variance and PSF planes load only when asked for, each at its own size.
    assert page.locator("#planes").is_hidden()
    assert page.locator("img.plane-img[src]").count() == 0
    page.click("#planes-toggle")
    assert page.locator("#planes-toggle").get_attribute("aria-expanded") == "true"
    wait_for_images(page, "img.plane-img", at_least=6, timeout=10_000)
    for plane in rubin_alert.stamp_planes.all():
        img = page.locator(f"#plane-{plane.kind}-{plane.plane}")
        assert img.get_attribute("data-pixels") == f"{plane.width}x{plane.height}"
        assert img.evaluate("img => img.naturalWidth") > 0
    page.locator("#planes").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "rubin_alert_page_planes.png"), full_page=True)

    # A ZTF alert: 63×63 at 1.0″/px, no planes, no scale toggle, its stamps as wide on screen as Rubin's.
    ztf = next(a for a in demo_alerts if a.survey == "ztf")
    page.goto(f"{live_server.url}/alerts/{ztf.candid}/")
    ztf_widths = stamp_widths(page)
    assert page.locator("#stamp-scale").inner_text().startswith("63×63 px at 1.0″/px")
    assert page.locator("#stamp-science").get_attribute("data-pixels") == "63x63"
    assert page.locator("#stamp-science").evaluate("img => img.naturalWidth") == 252
    assert page.locator("#planes-toggle").count() == 0
    assert page.locator(".lc-scale-btn").count() == 0
    assert "ZTF filter (g, r or i)" in page.content()
    assert page.locator("#alert-survey").inner_text() == "ZTF"
    assert page.locator("#stamp-orientation").inner_text() == "ZScale, north up, east left"
    assert page.get_by_text("ZScale, north up, east left").is_visible()
    assert page.locator(".compass").count() == 0
    for rubin_width, ztf_width in zip(rubin_widths, ztf_widths, strict=True):
        assert rubin_width == pytest.approx(ztf_width, abs=1.0)
    page.locator("#lightcurve-plot canvas").first.wait_for(state="attached", timeout=15_000)
    assert page.locator("#lightcurve-plot").get_attribute("data-scale") == "mag"
    assert page.js_errors == []


def test_the_classify_page_shows_a_rubin_candidate_at_its_size_and_its_light_curve_in_flux_or_magnitude(
    live_server, browser_page, volunteer, scientist, rubin_alert
):
    from django.urls import reverse

    from labeling.models import REAL_BOGUS_CLASSES, Campaign, Subject

    campaign = Campaign.objects.create(
        name="Rubin real/bogus", slug="rubin-rb", owner=scientist, classes=REAL_BOGUS_CLASSES,
        state=Campaign.State.LIVE,
    )  # fmt: skip
    Subject.objects.create(campaign=campaign, alert=rubin_alert)
    stamps = rubin_alert.stamps
    page = browser_page
    path = reverse("classify", kwargs={"slug": campaign.slug})
    log_in_when_asked(page, live_server.url, path, volunteer.username, PASSWORD)
    page.keyboard.press("Escape")  # the tutorial, if it opened
    wait_for_images(page, "#triptych img.stamp", at_least=3, timeout=10_000)
    for kind in KINDS:
        img = page.locator(f"#triptych img.stamp[data-kind={kind}]")
        assert img.get_attribute("data-pixels") == f"{stamps.width}x{stamps.height}"
    page.locator("#lc-scale:not([hidden])").wait_for(timeout=15_000)
    sky = f"{stamps.width * 0.2:.1f}".removesuffix(".0")
    expected = f"{stamps.width}×{stamps.height} px at 0.2″/px ({sky}″)"
    page.locator(f"#stamp-scale:text-is('{expected}')").wait_for(timeout=10_000)
    page.locator("#light-curve [aria-label^='Light curve in flux']").first.wait_for(timeout=15_000)
    assert page.locator("#lc-scale .seg-btn[data-scale=flux]").get_attribute("aria-pressed") == "true"
    # The detector's orientation and the compass, and Rubin's own field rows, none of ZTF's.
    page.locator("#compass:not([hidden])").wait_for(timeout=10_000)
    orientation = rubin_alert.survey_extra["cutout_orientation"]
    assert_shows_the_orientation(page, "#compass", orientation, page.locator("#stamp-orientation").inner_text())
    rows = dict(
        zip(page.locator("#fields dt").all_inner_texts(), page.locator("#fields dd").all_inner_texts(), strict=True)
    )
    assert rows["Flux (PSF)"] == f"{round(rubin_alert.flux_njy)} ± {round(rubin_alert.flux_err_njy)} nJy"
    assert rows["Magnitude (AB)"].startswith(f"{rubin_alert.magpsf:.2f} ± ")
    assert rows["S/N"] == f"{rubin_alert.snr:.1f}"
    assert rows["Band"] == "i"
    for ztf_only in ("FWHM", "Elongation", "classtar", "sgscore1", "distpsnr1"):
        assert ztf_only not in rows
    assert "reliability" not in page.locator(".side").inner_text().lower()
    frame = page.locator(".stamp-frame").first.bounding_box()
    assert frame["width"] > 6 * stamps.width  # enlarged well beyond its pixel count
    page.wait_for_timeout(300)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "rubin_alert_test_classify_page.png"), full_page=True)
    page.click("#lc-scale .seg-btn[data-scale=mag]")
    page.locator("#light-curve [aria-label^='Light curve in i']").first.wait_for(timeout=15_000)
    assert page.locator("#lc-scale .seg-btn[data-scale=mag]").get_attribute("aria-pressed") == "true"
    assert page.js_errors == []
