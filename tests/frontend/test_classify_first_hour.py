"""The classify page in a volunteer's first hour (issue 21): what they noticed, each checked in Debian's chromium.

- the "Your answer: …" prompt of the candidate just sent does not stay under the next one;
- the model's explanation shows a loading state at once, and the next candidates' maps are fetched ahead;
- the page says what the magenta pixels are;
- a reload brings back the unanswered candidate that was on screen.

Screenshots (looked at): var/screens/classify_first_hour*.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.frontend.helpers import log_in, shown_candid, wait_for_images, wait_for_new_candidate
from tests.frontend.test_classify import (
    activate_a_scored_model,
    demo_world,  # noqa: F401 - the fixture
    explanation_png,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENS = Path(__file__).resolve().parents[2] / "var" / "screens"
EXPLANATION = re.compile(r"/alerts/(\d+)/explanations/(\w+)\.png")


@pytest.fixture
def classify_page(live_server, browser, demo_world):  # noqa: F811 - the fixture above
    """The volunteer's classify page on the demo real/bogus campaign, tutorial already seen."""
    from labeling.models import TutorialSeen

    users, campaign = demo_world
    TutorialSeen.objects.create(campaign=campaign, volunteer=users["volunteer"])
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    page.problems = []
    page.on("pageerror", lambda exc: page.problems.append(str(exc)))
    page.open = lambda: log_in(page, live_server.url, "volunteer", f"/classify/{campaign.slug}/")
    page.campaign = campaign
    page.volunteer = users["volunteer"]
    SCREENS.mkdir(parents=True, exist_ok=True)
    return page


def test_the_answer_prompt_does_not_stay_under_the_next_candidate(classify_page):
    page = classify_page
    page.open()
    first = wait_for_new_candidate(page, "")
    page.keyboard.press("r")
    assert page.locator("#feedback").inner_text() == "Your answer: Real. Press Enter (Done) to send it."
    page.keyboard.press("Enter")
    wait_for_new_candidate(page, first)
    assert "Your answer" not in page.locator("#feedback").inner_text()
    assert page.locator("#answers .answer[aria-pressed=true]").count() == 0
    assert page.problems == []


def test_the_explanation_shows_it_is_loading_and_the_next_ones_are_fetched_ahead(classify_page, demo_alerts):
    page = classify_page
    activate_a_scored_model(demo_alerts)
    png = explanation_png()
    held: list = []
    requested: list[str] = []
    hold = {"on": True}

    def explanations(route):
        requested.append(EXPLANATION.search(route.request.url).group(1))
        if hold["on"]:
            held.append(route)  # the server is still computing the map
        else:
            route.fulfill(status=200, content_type="image/png", body=png)

    page.route("**/explanations/*.png*", explanations)
    page.open()
    first = wait_for_new_candidate(page, "")
    wait_for_images(page, "#triptych img.stamp")
    page.keyboard.press("e")
    # At once, before the map has arrived: the volunteer sees that it is coming.
    assert page.locator("#overlay-status").is_visible()
    assert page.locator("#overlay-btn").get_attribute("aria-busy") == "true"
    assert "loading" in page.locator("#overlay-status").inner_text().lower()
    page.screenshot(path=str(SCREENS / "classify_first_hour_explanation_loading.png"))
    # The candidate's own map, and those of the next two candidates, fetched ahead.
    assert wait_until(page, lambda: len(set(requested)) >= 3, timeout=10), requested
    assert requested[0] == first
    hold["on"] = False
    for route in held:
        route.fulfill(status=200, content_type="image/png", body=png)
    page.wait_for_function("() => !document.querySelector('#triptych .overlay').hidden")
    assert page.locator("#overlay-status").is_hidden()
    assert page.locator("#overlay-btn").get_attribute("aria-busy") == "false"
    page.screenshot(path=str(SCREENS / "classify_first_hour_explanation.png"))

    # The next candidate's map was fetched ahead: it is on the stamps without a new wait.
    page.keyboard.press("r")
    page.keyboard.press("Enter")
    second = wait_for_new_candidate(page, first)
    assert second in requested
    page.wait_for_function("() => !document.querySelector('#triptych .overlay').hidden", timeout=1000)
    assert page.problems == []


def test_the_page_says_what_the_magenta_pixels_are(classify_page):
    page = classify_page
    page.open()
    wait_for_new_candidate(page, "")
    page.keyboard.press("x")  # log: where a volunteer first meets the magenta of masked pixels
    legend = page.locator("#nan-legend")
    assert legend.is_visible()
    assert legend.inner_text().strip() == "magenta = no data (off the CCD or masked)"
    colour = page.locator("#nan-legend .nan-swatch").evaluate("el => getComputedStyle(el).backgroundColor")
    assert colour == "rgb(139, 0, 139)"  # labeling.stamps.NAN_COLOUR
    wait_for_images(page, "#triptych img.stamp")
    page.locator("#light-curve canvas").first.wait_for(state="attached", timeout=10_000)
    page.screenshot(path=str(SCREENS / "classify_first_hour_log_legend.png"))
    page.set_viewport_size({"width": 1024, "height": 768})  # a tablet: the legend wraps, Done stays in sight
    page.wait_for_timeout(300)
    page.screenshot(path=str(SCREENS / "classify_first_hour_log_legend_tablet.png"))
    assert legend.is_visible()
    done = page.locator("#done-btn").bounding_box()
    assert done is not None
    assert done["y"] + done["height"] <= 768


def test_a_reload_brings_back_the_unanswered_candidate(classify_page):
    from labeling.models import Vote

    page = classify_page
    page.open()
    first = wait_for_new_candidate(page, "")
    page.reload()
    assert wait_for_new_candidate(page, "") == first
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    second = wait_for_new_candidate(page, first)
    assert wait_until(page, lambda: Vote.objects.filter(volunteer=page.volunteer).count() == 1)
    page.reload()
    assert wait_for_new_candidate(page, "") == second  # the voted one does not come back; the next one does
    vote = Vote.objects.select_related("subject__alert").get(volunteer=page.volunteer)
    assert (str(vote.subject.alert.candid), vote.answer) == (first, "bogus")
    assert shown_candid(page) == second
    assert page.problems == []
