"""A scientist's and a new volunteer's first hour beyond the classify page (issue 21): the per-day chart of a
campaign's first day, one name for the reference stamp, and a tutorial whose steps each show their own example.

Screenshot (looked at): var/screens/dashboard_first_day.png.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from frontend.plots.dashboard import classifications_per_day_plot
from tests.frontend.helpers import submit_login_form, wait_for_path
from tests.labeling.campaign_helpers import cast, make_volunteers

SCREENS = Path(__file__).resolve().parents[2] / "var" / "screens"
DAY_MS = 86_400_000


def bokeh_objects(item, name: str) -> list[dict]:
    """The attributes of every object of type ``name`` in a bokeh json_item."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("name") == name and "attributes" in node:
                found.append(node["attributes"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(item)
    return found


def test_one_day_of_classifications_is_one_bar_among_days_ticked_in_days():
    item = classifications_per_day_plot({"per_day": [{"day": "2026-12-05", "classifications": 40, "volunteers": 3}]})
    (x_range,) = bokeh_objects(item, "Range1d")
    span = x_range["end"] - x_range["start"]
    assert span >= 7 * DAY_MS  # a week at least, not one block the width of the chart
    last_day = dt.datetime(2026, 12, 5, tzinfo=dt.UTC).timestamp() * 1000
    assert x_range["start"] < last_day < x_range["end"]
    width = bokeh_objects(item, "VBar")[0]["width"]["value"]
    assert 0.5 * DAY_MS <= width < DAY_MS  # a day's bar, with a gap to the next
    (axis,) = bokeh_objects(item, "DatetimeAxis")
    assert axis["ticker"]["name"] == "DaysTicker"
    assert axis["ticker"]["attributes"]["days"][:2] == [1, 2]  # a tick each day, never in hours
    (formatter,) = bokeh_objects(item, "DatetimeTickFormatter")
    assert formatter["hours"] == formatter["days"] == "%b %d"


def test_a_long_campaign_keeps_its_own_range():
    days = [(dt.date(2026, 9, 1) + dt.timedelta(days=i)).isoformat() for i in range(0, 120, 3)]
    item = classifications_per_day_plot({"per_day": [{"day": d, "classifications": 5, "volunteers": 1} for d in days]})
    (x_range,) = bokeh_objects(item, "Range1d")
    assert x_range["end"] - x_range["start"] == pytest.approx(118 * DAY_MS)
    (axis,) = bokeh_objects(item, "DatetimeAxis")
    assert axis["ticker"]["name"] == "DatetimeTicker"  # bokeh's own ticks (weeks, months) over four months


@pytest.mark.django_db
def test_the_subject_page_calls_the_reference_stamp_reference(client_for, scientist, live_campaign):
    subject = live_campaign.subjects.first()
    html = client_for(scientist).get(f"/campaigns/manage/{live_campaign.slug}/subjects/{subject.pk}/").content.decode()
    assert "<figcaption>Reference</figcaption>" in html
    assert "<figcaption>Science</figcaption>" in html
    assert "<figcaption>Difference</figcaption>" in html
    assert ">template<" not in html.lower()
    assert "Template cutout" not in html


@pytest.mark.django_db
def test_each_tutorial_step_of_the_demo_campaigns_shows_its_own_example(demo_alerts, scientist):
    from fixtures.demo_campaigns import create_demo_campaigns
    from labeling.models import TutorialStep

    create_demo_campaigns(owner=scientist)
    for slug in ("demo-real-bogus", "demo-streak-types"):
        examples = list(
            TutorialStep.objects.filter(campaign__slug=slug)
            .exclude(example_alert=None)
            .values_list("example_alert_id", flat=True)
        )
        assert len(examples) >= 3
        assert len(set(examples)) == len(examples), (slug, examples)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_dashboard_of_a_first_day_draws_its_chart(
    live_server, browser_page, scientist, live_campaign, django_user_model
):
    from tests.conftest import PASSWORD

    for person, subject in zip(make_volunteers(django_user_model, 3), live_campaign.subjects.all()[:3], strict=True):
        cast(live_campaign, subject, person, "real")
    page = browser_page
    dashboard = f"/campaigns/manage/{live_campaign.slug}/dashboard/"
    page.goto(f"{live_server.url}/accounts/login/?next={dashboard}")
    submit_login_form(page, scientist.username, PASSWORD)
    wait_for_path(page, dashboard)
    page.locator("#per-day canvas").first.wait_for(state="attached", timeout=10_000)
    page.wait_for_timeout(500)
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.locator("#per-day").screenshot(path=str(SCREENS / "dashboard_first_day.png"))
    assert page.js_errors == []
