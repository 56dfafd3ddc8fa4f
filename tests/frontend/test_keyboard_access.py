"""By keyboard alone: the classify page, the alert page's light curve, the campaign builder and the ML console are
worked with Tab, Enter, Space and the arrow keys, and wherever the focus lands a person can see it (an outline
or a ring of the element itself, or, inside a bokeh plot's shadow DOM, a ring around the whole plot)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.frontend.helpers import log_in

SCREENS = Path(__file__).resolve().parents[2] / "var" / "screens"
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The focused element, looked for through bokeh's shadow roots, and whether its focus shows.
FOCUSED = """() => {
  let e = document.activeElement;
  const hosts = [];
  while (e && e.shadowRoot && e.shadowRoot.activeElement) { hosts.push(e); e = e.shadowRoot.activeElement; }
  if (!e || e === document.body) return null;
  const ringed = (x) => {
    const s = getComputedStyle(x);
    return (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none";
  };
  const plot = hosts.length ? hosts[0].closest(".lightcurve, .light-curve, .plot") : null;
  const text = e.getAttribute("aria-label") || e.textContent || e.value || "";
  return {
    tag: e.tagName.toLowerCase(), id: e.id, role: e.getAttribute("role") || "",
    name: text.trim().replace(/\\s+/g, " ").slice(0, 90),
    classes: typeof e.className === "string" ? e.className : "",
    in_main: (hosts[0] || e).closest("main") !== null,
    in_plot: plot !== null, visible: plot ? ringed(plot) : ringed(e),
  };
}"""


def tab_to(page, wanted, *, limit: int = 90, key: str = "Tab") -> dict:
    """Press Tab until the focused element is ``wanted`` (a predicate on FOCUSED's answer); every stop on the
    way must show its focus."""
    seen = []
    for _ in range(limit):
        page.keyboard.press(key)
        focused = page.evaluate(FOCUSED)
        if focused is None:
            continue
        seen.append(f"{focused['tag']}#{focused['id']} {focused['role']} {focused['name'][:40]!r}")
        assert focused["visible"], f"no visible focus on {focused}"
        if wanted(focused):
            return focused
    raise AssertionError("never reached by Tab; the stops were:\n" + "\n".join(seen))


def named(text: str):
    return lambda f: text in f["name"]


def wait_until(check, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def demo_world(demo_alerts):
    """The demo accounts and campaigns of ``make run`` over the demo alerts, with an active scored model."""
    from fixtures.demo_campaigns import DEMO_REAL_BOGUS_SLUG, create_demo_campaigns
    from fixtures.demo_users import create_demo_users
    from labeling.models import Campaign
    from tests.classifiers.console_helpers import add_scores, make_version

    users = {u.username: u for u in create_demo_users()}
    create_demo_campaigns(owner=users["scientist"])
    active = make_version(version=1, status="active")
    add_scores(active, demo_alerts, [(i % 10) / 10 + 0.05 for i in range(len(demo_alerts))])
    make_version(version=2)
    make_version(version=3)
    return users, Campaign.objects.get(slug=DEMO_REAL_BOGUS_SLUG)


def new_page(browser):
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.js_errors = []
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
    return page


def test_the_classify_page_works_by_tab_space_and_enter(live_server, browser, demo_world):
    from labeling.models import TutorialSeen, Vote

    users, campaign = demo_world
    TutorialSeen.objects.create(campaign=campaign, volunteer=users["volunteer"])
    page = new_page(browser)
    log_in(page, live_server.url, "volunteer", f"/classify/{campaign.slug}/", press_enter=True)
    page.wait_for_selector("#classify[data-state=ready]")
    first = page.locator("#candidate-link").inner_text()

    # The page hands the keyboard to the task: the first Tab reaches the first answer; the image tools are
    # just above it.
    assert tab_to(page, lambda f: True, limit=1)["name"].endswith("Real")
    tab_to(page, named("Log"), key="Shift+Tab", limit=8)
    page.keyboard.press("Space")
    assert page.locator(".seg-btn[data-stretch=log]").get_attribute("aria-pressed") == "true"
    object_id = page.locator("#object-id").inner_text()
    science = page.locator("#triptych img.stamp[data-kind=science]")
    assert science.get_attribute("alt") == f"Science cutout of {object_id}, log stretch"

    tab_to(page, lambda f: f["id"] == "zoom-btn")
    page.keyboard.press("Enter")
    assert page.locator("#zoom-level").inner_text() == "2×"

    tab_to(page, lambda f: f["tag"] == "button" and "answer-" in f["classes"] and "Real" in f["name"])
    page.keyboard.press("Space")
    assert page.locator("#answers .answer[data-answer=real]").get_attribute("aria-pressed") == "true"
    tab_to(page, lambda f: f["id"] == "done-btn")
    page.keyboard.press("Enter")
    page.wait_for_function("old => document.getElementById('candidate-link').textContent !== old", arg=first)
    assert wait_until(lambda: Vote.objects.filter(volunteer=users["volunteer"], answer="real").count() == 1)

    # The light curve: a named Tab stop ringed as a whole, then its tools, each a named button.
    page.locator("#light-curve .bk-events[role=group]").wait_for(state="attached")  # Playwright looks in shadows
    plot = tab_to(page, lambda f: f["in_plot"])
    assert plot["role"] == "group", plot
    assert plot["name"].startswith("Light curve"), plot
    tool = tab_to(page, lambda f: f["in_plot"] and f["name"] == "Box Zoom")
    assert tool["role"] == "button"
    page.keyboard.press("Enter")
    assert "bk-active" in page.evaluate(FOCUSED)["classes"]
    assert page.js_errors == []


def test_the_alert_page_stretch_and_light_curve_answer_the_keyboard(live_server, browser, demo_world, demo_alerts):
    alert = demo_alerts[0]
    page = new_page(browser)
    log_in(page, live_server.url, "volunteer", f"/alerts/{alert.candid}/")
    page.locator("#lightcurve-plot .bk-events[role=group]").wait_for(state="attached")
    # The skip link comes first and leads past the site's navigation into the page's content.
    tab_to(page, named("Skip to content"), limit=1)
    page.keyboard.press("Enter")
    assert tab_to(page, lambda f: True, limit=1)["in_main"]
    tab_to(page, lambda f: f["tag"] == "button" and f["name"] == "asinh")
    page.keyboard.press("Enter")
    stamp = page.locator("#stamp-difference")
    assert stamp.get_attribute("alt") == f"Difference cutout of {alert.object_id}, asinh stretch"
    assert page.locator(".stretch-btn[data-stretch=asinh]").get_attribute("aria-pressed") == "true"

    plot = tab_to(page, lambda f: f["in_plot"])
    assert plot["role"] == "group", plot
    assert plot["name"].startswith("Light curve in "), plot
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.locator(".alert-grid").screenshot(path=str(SCREENS / "keyboard_light_curve_focus.png"))
    tools = [tab_to(page, lambda f: True, limit=1) for _ in range(5)]
    assert sorted(t["name"] for t in tools) == ["Box Zoom", "Pan", "Reset", "Save", "Wheel Zoom"]
    assert {t["role"] for t in tools} == {"button"}
    assert page.js_errors == []


def test_a_scientist_builds_a_campaign_by_keyboard(live_server, browser, demo_world):
    from labeling.models import Campaign

    page = new_page(browser)
    log_in(page, live_server.url, "scientist", "/campaigns/manage/new/")
    page.wait_for_function("() => /\\d/.test(document.getElementById('preview-count').textContent)")
    tab_to(page, lambda f: f["id"] == "f-name")
    page.keyboard.type("Typed, not clicked")
    # Custom classes, picked by typing on the closed list, make the class rows editable.
    tab_to(page, lambda f: f["id"] == "f-question-type")
    page.keyboard.type("Custom")
    page.locator("#add-class").wait_for(state="visible")
    rows = page.locator("#classes-rows tr").count()
    tab_to(page, lambda f: f["id"] == "add-class")
    page.keyboard.press("Enter")
    assert page.locator("#classes-rows tr").count() == rows + 1
    # The new row sits above the button: back to its key, then its label.
    tab_to(page, named("class key"), key="Shift+Tab", limit=6)
    page.keyboard.type("dipole")
    page.keyboard.press("Tab")
    page.keyboard.type("Dipole")
    tab_to(page, named("magpsf less than"))
    page.keyboard.type("19.5")
    page.wait_for_function("() => document.getElementById('preview-summary').textContent.includes('magpsf < 19.5')")
    tab_to(page, lambda f: f["id"] == "save-campaign")
    page.keyboard.press("Enter")
    assert wait_until(lambda: Campaign.objects.filter(name="Typed, not clicked").exists())
    campaign = Campaign.objects.get(name="Typed, not clicked")
    assert campaign.selection == {"magpsf": {"lt": 19.5}}
    assert "dipole" in [c["key"] for c in campaign.classes]
    assert page.js_errors == []


def test_an_ml_lead_compares_two_versions_by_keyboard(live_server, browser, demo_world):
    from classifiers.models import ModelVersion

    versions = {v.version: v for v in ModelVersion.objects.filter(task="real_bogus")}
    page = new_page(browser)
    log_in(page, live_server.url, "mllead", "/ml/versions/")
    # A radio group is one Tab stop; the arrow keys move the choice within it.
    # The table lists the newest first: A starts on the active v1 (last), B on v3 (first).
    form = page.locator("form.compare-form[data-task=real_bogus]")
    tab_to(page, lambda f: f["tag"] == "input" and f["name"].endswith(" as A"))
    page.keyboard.press("ArrowUp")
    tab_to(page, lambda f: f["tag"] == "input" and f["name"].endswith(" as B"))
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    a_choice = form.locator("input[name=a]:checked").get_attribute("value")
    b_choice = form.locator("input[name=b]:checked").get_attribute("value")
    assert (a_choice, b_choice) == (str(versions[2].pk), str(versions[1].pk))
    tab_to(page, named("Compare A and B"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/ml/compare/?*a={a_choice}*", wait_until="domcontentloaded")
    assert f"b={b_choice}" in page.url

    tab_to(page, lambda f: f["tag"] == "a" and f["name"] == "Drift")
    page.keyboard.press("Enter")
    page.wait_for_url("**/ml/drift/")
    assert page.js_errors == []
