"""Browser test of the volunteer's whole path on Debian's chromium: log in through the form, go through the
tutorial, classify 21 candidates with the keyboard alone, open the field guide, "Done & Talk" and post a
comment; then every vote is in the database exactly once and no candidate was shown twice.

Screenshots (looked at, not just taken): test-artifacts/screenshots/classify_tutorial.png, classify_page.png,
classify_page_tablet.png, classify_field_guide.png, talk_thread.png, talk_index.png.
"""

from __future__ import annotations

import time

import pytest

from tests.frontend.helpers import SCREENSHOTS, log_in, wait_for_images, wait_for_new_candidate

VOTES_BY_KEYBOARD = 20
KEYS = ["r", "b", "s", "r", "b"]

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_world(demo_alerts):
    """The demo accounts and the demo campaigns of ``make run``, over the 60 demo alerts."""
    from fixtures.demo_campaigns import DEMO_REAL_BOGUS_SLUG, create_demo_campaigns
    from fixtures.demo_users import create_demo_users
    from labeling.models import Campaign

    users = {u.username: u for u in create_demo_users()}
    create_demo_campaigns(owner=users["scientist"])
    campaign = Campaign.objects.get(slug=DEMO_REAL_BOGUS_SLUG)
    assert campaign.state == Campaign.State.LIVE
    return users, campaign


def activate_a_scored_model(alerts) -> None:
    """An active braai version that has scored every alert (no weights needed: the page reads stored scores)."""
    from classifiers.models import ModelVersion, Score

    version = ModelVersion.objects.create(
        task="real_bogus", version=1, architecture="vgg6", status="active", weights=b"-", sha256="0" * 64
    )
    Score.objects.bulk_create(
        [Score(alert=a, version=version, score=(i % 10) / 10 + 0.05) for i, a in enumerate(alerts)]
    )


def explanation_png() -> bytes:
    """A stand-in for the classifiers' explanation PNG: three 252-px panels side by side with 6-px gaps."""
    import io

    from PIL import Image

    canvas = Image.new("RGB", (3 * 252 + 2 * 6, 252), (255, 255, 255))
    for i, colour in enumerate(((200, 40, 0), (0, 160, 60), (230, 200, 0))):
        canvas.paste(Image.new("RGB", (252, 252), colour), (i * 258, 0))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def wait_until(page, condition, timeout=15.0):
    """Poll the database while letting the browser run (Playwright's sync API only moves when called)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        page.wait_for_timeout(200)
    return condition()


def test_a_volunteer_classifies_with_the_keyboard_and_talks(live_server, browser, demo_world, demo_alerts):
    from labeling.models import Comment, TutorialSeen, Vote

    users, campaign = demo_world
    activate_a_scored_model(demo_alerts)
    volunteer = users["volunteer"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            msg.type == "error" and "Content Security Policy" in msg.text and problems.append(f"CSP: {msg.text}")
        ),
    )
    # Any failed request the page made (the test server speaks no websocket: the live counter's is excused).
    page.on(
        "response",
        lambda r: (
            r.status >= 400
            and "/ws/" not in r.url
            and not r.url.endswith("/favicon.ico")
            and problems.append(f"{r.status} {r.url}")
        ),
    )

    # Log in through the form.
    log_in(page, live_server.url, "volunteer", f"/classify/{campaign.slug}/", press_enter=True)

    # The tutorial opens by itself on the first visit; Enter walks through it.
    tutorial = page.locator("#tutorial")
    tutorial.wait_for(state="visible")
    page.wait_for_timeout(600)  # example stamps
    page.screenshot(path=str(SCREENSHOTS / "classify_tutorial.png"))
    steps = int(page.locator("#tutorial-total").inner_text())
    assert steps >= 3
    for _ in range(steps):
        page.keyboard.press("Enter")
    tutorial.wait_for(state="hidden")
    assert wait_until(page, lambda: TutorialSeen.objects.filter(campaign=campaign, volunteer=volunteer).exists())

    # Classify with the keyboard alone.
    shown: list[str] = []
    current = wait_for_new_candidate(page, "")
    pressed: dict[str, str] = {}
    page.keyboard.press("z")  # zoom and stretch keys work mid-stream
    page.keyboard.press("x")
    assert page.locator("#zoom-level").inner_text() == "2×"
    assert page.locator(".seg-btn[data-stretch=log]").get_attribute("aria-pressed") == "true"
    wait_for_images(page, "#triptych img.stamp")
    page.screenshot(path=str(SCREENSHOTS / "classify_page_zoomed.png"))
    page.keyboard.press("0")
    page.keyboard.press("x")
    page.keyboard.press("x")  # back to linear

    # The model's score, and its explanation overlay cycled with e (Grad-CAM, saliency, off). The explanation
    # images themselves need a trained network: the browser gets a stand-in of the same layout.
    png = explanation_png()
    page.route("**/explanations/*.png*", lambda route: route.fulfill(status=200, content_type="image/png", body=png))
    assert page.locator("#model-card").is_visible()
    assert page.locator("#model-score").inner_text().startswith("Score 0.")
    page.keyboard.press("e")
    page.wait_for_function("() => !document.querySelector('#triptych .overlay').hidden")
    assert "Grad-CAM" in page.locator("#overlay-label").inner_text()
    position = page.locator("#triptych .overlay[data-kind=difference]").evaluate("el => el.style.backgroundPosition")
    assert position.startswith("100%")
    page.screenshot(path=str(SCREENSHOTS / "classify_explanation.png"))
    page.keyboard.press("e")
    assert "saliency" in page.locator("#overlay-label").inner_text()
    page.keyboard.press("e")
    assert page.locator("#overlay-label").inner_text().endswith("off")
    assert page.locator("#triptych .overlay").first.is_hidden()
    for i in range(VOTES_BY_KEYBOARD):
        shown.append(current)
        key = KEYS[i % len(KEYS)]
        pressed[current] = {"r": "real", "b": "bogus", "s": "skip"}[key]
        page.keyboard.press(key)
        assert page.locator(f"#answers .answer[aria-pressed=true] kbd:text-is('{key}')").count() == 1
        if i == 3:
            wait_for_images(page, "#triptych img.stamp")
            page.locator("#light-curve canvas").first.wait_for(state="attached", timeout=10_000)
            page.screenshot(path=str(SCREENSHOTS / "classify_page.png"))
        page.keyboard.press("Enter")
        current = wait_for_new_candidate(page, current)

    # The field guide, from the keyboard.
    page.keyboard.press("g")
    guide = page.locator("#field-guide")
    guide.wait_for(state="visible")
    assert "Need some help with this task?" in guide.inner_text()
    assert page.locator("#guide-entries .guide-entry").count() >= 2
    page.wait_for_timeout(800)
    page.screenshot(path=str(SCREENSHOTS / "classify_field_guide.png"))
    page.keyboard.press("Escape")
    guide.wait_for(state="hidden")

    # The same page at tablet size.
    page.set_viewport_size({"width": 1024, "height": 768})
    page.wait_for_timeout(500)
    page.screenshot(path=str(SCREENSHOTS / "classify_page_tablet.png"))
    done_box = page.locator("#done-btn").bounding_box()
    assert done_box is not None
    assert done_box["y"] + done_box["height"] <= 768, "Done must be visible without scrolling on a tablet"
    page.set_viewport_size({"width": 1366, "height": 800})

    # Done & Talk on one more candidate, then a comment.
    talk_candid = current
    shown.append(talk_candid)
    pressed[talk_candid] = "bogus"
    page.keyboard.press("b")
    page.keyboard.press("t")
    page.wait_for_url(f"**/talk/alert/{talk_candid}/**")
    page.locator("#comment-body").focus()
    page.keyboard.type("Looks like a #dipole to me, compare ZTF18abcdefg. <script>alert(1)</script>")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector(".comment-body a[href='/talk/tags/dipole/']")
    assert page.locator(".comment-body script").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "talk_thread.png"), full_page=True)
    page.goto(f"{live_server.url}/talk/")
    # The thumbnails load lazily: the discussion's difference stamp must actually arrive and decode.
    wait_for_images(page, ".talk-list img.stamp-thumb", at_least=1)
    page.screenshot(path=str(SCREENSHOTS / "talk_index.png"), full_page=True)

    # Every vote stored exactly once, on the candidate it was cast on; no candidate shown twice.
    assert len(set(shown)) == len(shown), shown
    assert wait_until(page, lambda: Vote.objects.filter(volunteer=volunteer).count() >= len(shown))
    page.wait_for_timeout(1000)  # a straggling retry would show up now as a second row
    votes = list(Vote.objects.filter(volunteer=volunteer).select_related("subject__alert"))
    assert len(votes) == len(shown) == VOTES_BY_KEYBOARD + 1
    assert len({v.subject_id for v in votes}) == len(votes)
    assert len({v.idempotency_key for v in votes}) == len(votes)
    assert {str(v.subject.alert.candid): v.answer for v in votes} == pressed
    assert all(v.campaign_id == campaign.pk for v in votes)
    comment = Comment.objects.get(author=volunteer)
    assert str(comment.alert.candid) == talk_candid
    assert comment.campaign_id == campaign.pk
    assert "<script>" not in comment.body_html
    assert problems == []


def test_a_failed_vote_waits_in_the_outbox_and_is_sent_later(live_server, browser, demo_world):
    """The network drops every vote: the page goes on to the next candidates, says quietly that votes are
    waiting, and delivers them (once each) when the network is back."""
    from labeling.models import TutorialSeen, Vote

    users, campaign = demo_world
    volunteer = users["volunteer"]
    TutorialSeen.objects.create(campaign=campaign, volunteer=volunteer)
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    log_in(page, live_server.url, "volunteer", f"/classify/{campaign.slug}/", press_enter=True)
    current = wait_for_new_candidate(page, "")

    blocked = {"on": True, "attempts": 0}

    def votes_route(route):
        if blocked["on"]:
            blocked["attempts"] += 1
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/votes/", votes_route)
    shown = []
    for key in ("r", "b", "r"):
        shown.append(current)
        page.keyboard.press(key)
        page.keyboard.press("Enter")
        current = wait_for_new_candidate(page, current)  # the next candidate comes at once, vote or no vote
    page.wait_for_function(
        "() => /3 votes waiting to be sent — retrying/.test(document.querySelector('#outbox-status').textContent)",
        timeout=10_000,
    )
    assert Vote.objects.filter(volunteer=volunteer).count() == 0
    assert blocked["attempts"] >= 3
    stored_waiting = page.evaluate("() => JSON.parse(localStorage.getItem('blink.outbox.v1')).length")
    assert stored_waiting == 3

    blocked["on"] = False
    page.unroute("**/votes/")
    assert wait_until(page, lambda: Vote.objects.filter(volunteer=volunteer).count() == 3, timeout=40)
    page.wait_for_function("() => document.querySelector('#outbox-status').textContent === ''", timeout=10_000)
    votes = Vote.objects.filter(volunteer=volunteer).select_related("subject__alert")
    assert sorted(str(v.subject.alert.candid) for v in votes) == sorted(shown)
    assert current not in shown
