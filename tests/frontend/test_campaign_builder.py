"""Browser test: the demo scientist builds a campaign from filters with a live preview, adds a tutorial step and
a field-guide entry, takes it live; the demo volunteer then finds it on the home page. Screenshots go to
test-artifacts/screenshots/campaign_*.png."""

from __future__ import annotations

import re

import pytest

from tests.frontend.helpers import DEMO_PASSWORD, SCREENSHOTS, log_in, record_errors, wait_for_images

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_page(browser, errors: list[str]):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    record_errors(page, errors, from_status=500)
    return page


def wait_for_thumbs(page, n: int) -> None:
    wait_for_images(page, "#preview-grid img", at_least=n, timeout=20_000)


def test_a_scientist_builds_a_campaign_and_a_volunteer_sees_it(live_server, browser, demo_alerts):
    from fixtures.demo_users import create_demo_users
    from labeling.filters import count_matching
    from labeling.models import Campaign

    create_demo_users(DEMO_PASSWORD)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    page = open_page(browser, errors)
    log_in(page, live_server.url, "scientist", "/campaigns/manage/new/")

    # The preview counts everything before any filter is set.
    page.wait_for_function(
        "n => document.getElementById('preview-count').textContent === String(n)", arg=len(demo_alerts)
    )
    page.fill("#f-name", "Bright positive candidates")
    page.fill("#f-description", "Are the bright, positive subtractions of the demo nights real?")

    # A range upside down is refused with the field named, before anything is saved.
    page.fill('[data-filter="rb"][data-op="gt"]', "0.6")
    page.fill('[data-filter="rb"][data-op="lt"]', "0.2")
    page.locator('[data-error-for="rb"]').wait_for(state="visible")
    assert "upside down" in page.locator('[data-error-for="rb"]').text_content()
    page.fill('[data-filter="rb"][data-op="gt"]', "")
    page.fill('[data-filter="rb"][data-op="lt"]', "")

    spec = {"magpsf": {"lt": 19.5}, "isdiffpos": True}
    page.fill('[data-filter="magpsf"][data-op="lt"]', "19.5")
    page.select_option('select[data-filter="isdiffpos"]', "true")
    expected = count_matching(spec)
    assert 0 < expected < len(demo_alerts)
    page.wait_for_function("n => document.getElementById('preview-count').textContent === String(n)", arg=expected)
    assert page.locator("#preview-summary").text_content() == "magpsf < 19.5, isdiffpos = true"
    wait_for_thumbs(page, min(expected, 24))
    assert page.locator('[data-error-for="rb"]').is_hidden()
    page.fill("#f-retire-after", "3")
    page.screenshot(path=str(SCREENSHOTS / "campaign_builder_preview.png"), full_page=True)

    page.click("#save-campaign")
    # The page says "Draft saved" once, then drops ?created=1 from its address (a reload is not a new save).
    page.wait_for_url(re.compile(r".*/campaigns/manage/bright-positive-candidates/edit/(\?created=1)?$"))
    campaign = Campaign.objects.get(slug="bright-positive-candidates")
    assert campaign.selection == spec
    assert campaign.state == "draft"

    # Tutorial step with an example picked from the preview grid.
    wait_for_thumbs(page, min(expected, 24))
    page.focus("#t-example")
    first = page.locator("#preview-grid .preview-item").first
    example_candid = int(first.get_attribute("data-candid"))
    first.click()
    assert page.input_value("#t-example") == str(example_candid)
    page.fill("#t-title", "Look at the centre")
    page.fill("#t-text", "A real source is a round blob in the middle of the difference image.")
    with page.expect_response(lambda r: r.url.endswith("/tutorial/") and r.request.method == "POST") as posted:
        page.click("#add-step")
    assert posted.value.status == 201, posted.value.text()
    page.locator("#tutorial-list li").filter(has_text="Look at the centre").wait_for()

    page.fill("#g-title", "Real point source")
    page.select_option("#g-answer", "real")
    page.fill("#g-text", "PSF-shaped, like the stars around it.")
    page.focus("#g-examples")
    page.locator("#preview-grid .preview-item").nth(1).click()
    with page.expect_response(lambda r: r.url.endswith("/field-guide/") and r.request.method == "POST") as posted:
        page.click("#add-entry")
    assert posted.value.status == 201, posted.value.text()
    page.locator("#guide-list li").filter(has_text="Real point source").wait_for()

    page.click("#go-live")
    page.wait_for_function("() => document.getElementById('state-badge').textContent === 'Live'")
    page.locator("#state-status").filter(has_text=f"Live with {expected} subjects").wait_for()
    page.screenshot(path=str(SCREENSHOTS / "campaign_builder_live.png"), full_page=True)

    campaign.refresh_from_db()
    assert campaign.state == "live"
    assert campaign.subjects.count() == expected
    assert campaign.tutorial_steps.get().example_alert.candid == example_candid
    assert campaign.field_guide.get().examples.count() == 1

    # The demo volunteer finds it on the home page.
    volunteer_page = open_page(browser, errors)
    log_in(volunteer_page, live_server.url, "volunteer", "/")
    card = volunteer_page.locator(".campaign-card").filter(has_text="Bright positive candidates")
    card.wait_for()
    assert card.locator("a[href='/classify/bright-positive-candidates/']").count() == 1
    volunteer_page.screenshot(path=str(SCREENSHOTS / "campaign_volunteer_home.png"), full_page=True)

    # Some classifications over a few days, then the scientist's inspect, subject and dashboard pages.
    subjects = cast_some_votes(campaign)
    page.goto(f"{live_server.url}/campaigns/manage/{campaign.slug}/inspect/?sort=-votes")
    page.locator("#inspect-table tbody tr").first.wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('#inspect-table img')].every(i => i.complete)")
    first_row = page.locator("#inspect-table tbody tr").first
    assert "real" in first_row.text_content()
    page.screenshot(path=str(SCREENSHOTS / "campaign_inspect.png"), full_page=True)
    page.goto(f"{live_server.url}/campaigns/manage/{campaign.slug}/subjects/{subjects[0].pk}/")
    assert page.locator("#votes-table tbody tr").count() == 3
    page.screenshot(path=str(SCREENSHOTS / "campaign_subject.png"), full_page=True)
    page.goto(f"{live_server.url}/campaigns/manage/{campaign.slug}/dashboard/")
    page.locator("#per-day canvas").first.wait_for(state="attached", timeout=15_000)
    assert page.locator("#leaderboard tbody tr").count() == 3
    page.screenshot(path=str(SCREENSHOTS / "campaign_dashboard.png"), full_page=True)
    assert errors == []


def cast_some_votes(campaign) -> list:
    import datetime as dt
    import uuid

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from labeling.models import Vote
    from labeling.votes import vote_record

    people = [get_user_model().objects.create_user(username=f"stargazer{i}", password="x" * 12) for i in range(3)]
    subjects = list(campaign.subjects.select_related("alert").order_by("alert__candid")[:12])
    for i, subject in enumerate(subjects):
        truth = "real" if subject.alert.demo_truth == "real" else "bogus"
        for j, person in enumerate(people):
            answer = truth if (i + j) % 4 else ("skip" if j == 2 else "bogus" if truth == "real" else "real")
            vote_record(
                campaign=campaign, subject_id=subject.pk, volunteer=person, answer=answer, idempotency_key=uuid.uuid4()
            )
    # Spread them over the last five days, as a week of classifying would.
    for vote in Vote.objects.filter(campaign=campaign):
        Vote.objects.filter(pk=vote.pk).update(created_at=timezone.now() - dt.timedelta(days=vote.pk % 5, hours=1))
    return subjects


# ------------------------------------------------------------------------ the builder's answers to mistakes


def open_builder(live_server, browser, errors: list[str]):
    from fixtures.demo_users import create_demo_users

    create_demo_users(DEMO_PASSWORD)
    page = open_page(browser, errors)
    log_in(page, live_server.url, "scientist", "/campaigns/manage/new/")
    return page


def wait_for_count(page, text: str) -> None:
    page.wait_for_function("t => document.getElementById('preview-count').textContent === t", arg=text)


def type_json_filter(page, text: str) -> None:
    page.click("#json-details summary")
    page.check("#json-mode")
    page.fill("#selection-json", text)


def test_a_json_filter_that_does_not_parse_leaves_no_stale_count_or_stamps(live_server, browser, demo_alerts):
    errors: list[str] = []
    page = open_builder(live_server, browser, errors)
    page.fill('[data-filter="magpsf"][data-op="lt"]', "19.5")
    from labeling.filters import count_matching

    wait_for_count(page, str(count_matching({"magpsf": {"lt": 19.5}})))
    wait_for_thumbs(page, 1)

    type_json_filter(page, '{"magpsf": {"lt": 19.5}')  # a brace short
    page.locator("#preview-error").filter(has_text="not valid JSON").wait_for()
    wait_for_count(page, "–")
    assert page.locator("#preview-count-label").text_content() == "alerts: fix the filter to see how many match"
    assert page.locator("#preview-summary").text_content() == ""
    assert page.locator("#preview-grid .preview-item").count() == 0
    assert "stale" in page.get_attribute("#preview", "class")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "campaign_builder_json_error.png"), full_page=True)

    # Mended, the preview comes back.
    page.fill("#selection-json", '{"magpsf": {"lt": 19.5}}')
    wait_for_count(page, str(count_matching({"magpsf": {"lt": 19.5}})))
    assert "stale" not in page.get_attribute("#preview", "class")
    assert errors == []


def test_saving_a_broken_draft_says_why_next_to_the_save_button(live_server, browser, demo_alerts):
    from labeling.models import Campaign

    errors: list[str] = []
    page = open_builder(live_server, browser, errors)
    page.fill("#f-name", "Broken filter")
    type_json_filter(page, '{"rb": {"gt": 0.2,}}')
    page.click("#save-campaign")
    status = page.locator("#save-status")
    status.filter(has_text="Not saved").wait_for()
    assert "not valid JSON" in status.text_content()
    assert "error" in status.get_attribute("class")

    # A filter the server refuses is named beside the button too.
    page.fill("#selection-json", '{"rb": {"gt": 0.4, "lt": 0.2}}')
    page.click("#save-campaign")
    status.filter(has_text="upside down").wait_for()
    assert status.text_content().startswith("Not saved: selection.rb: the range is upside down")
    assert not Campaign.objects.exists()
    assert errors == []


def test_the_preview_says_how_many_matches_are_real_and_how_many_synthetic(live_server, browser, demo_alerts):
    from labeling.models import Alert

    # Every third demo alert (twenty) stands in for an alert from the survey (no known truth), stamps and all.
    survey = demo_alerts[::3]
    Alert.objects.filter(pk__in=[a.pk for a in survey]).update(demo_truth="")
    errors: list[str] = []
    page = open_builder(live_server, browser, errors)
    wait_for_count(page, str(len(demo_alerts)))
    split = page.locator("#preview-split")
    split.filter(has_text="20 real survey alerts, 40 synthetic demo alerts").wait_for()
    # The grid shows the newest matches; each demo one is marked as such.
    wait_for_thumbs(page, 24)
    demo_candids = {str(a.candid) for a in demo_alerts} - {str(a.candid) for a in survey}
    for item in page.locator("#preview-grid .preview-item").all():
        is_demo = item.get_attribute("data-candid") in demo_candids
        assert ("demo" in item.get_attribute("class").split()) == is_demo
        assert item.get_attribute("title").startswith("synthetic demo alert") == is_demo

    page.select_option("#f-alert-source", "false")
    wait_for_count(page, "20")
    split.filter(has_text="all real survey alerts").wait_for()
    assert page.locator("#preview-summary").text_content() == "survey alerts only"
    assert page.input_value("#selection-json").replace(" ", "").replace("\n", "") == '{"is_demo":false}'

    page.select_option("#f-alert-source", "true")
    wait_for_count(page, "40")
    split.filter(has_text="all synthetic demo alerts").wait_for()

    # A sample states the split of the sample itself.
    page.select_option("#f-alert-source", "")
    page.fill("#f-sample-size", "10")
    wait_for_count(page, "10")
    split.filter(has_text="Of the sample:").wait_for()
    assert errors == []


def test_a_saved_draft_replaces_the_new_campaign_form_in_the_history(live_server, browser, demo_alerts):
    from labeling.models import Campaign

    errors: list[str] = []
    page = open_builder(live_server, browser, errors)
    page.goto(f"{live_server.url}/campaigns/manage/")
    page.goto(f"{live_server.url}/campaigns/manage/new/")
    page.fill("#f-name", "Saved once")
    page.click("#save-campaign")
    page.wait_for_url(re.compile(r".*/campaigns/manage/saved-once/edit/$"))
    page.locator("#save-status").filter(has_text="Draft saved").wait_for()

    # A reload shows the saved draft, and says nothing about saving it again.
    page.reload()
    page.wait_for_function("() => document.getElementById('f-name').value === 'Saved once'")
    assert page.locator("#save-status").text_content() == ""
    # Back leads to the page before the empty form, not to the form: no second "Saved once" by mistake.
    page.go_back()
    page.wait_for_url(re.compile(r".*/campaigns/manage/$"))
    assert Campaign.objects.filter(name="Saved once").count() == 1
    assert errors == []
