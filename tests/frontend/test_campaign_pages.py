"""Scientists' campaign pages: who may open them, and what they show."""

from __future__ import annotations

import pytest

from labeling.campaigns.services import campaign_create
from tests.labeling.campaign_helpers import cast, make_volunteers

pytestmark = pytest.mark.django_db

PAGES = ("edit/", "inspect/", "dashboard/")


def test_volunteers_are_refused_and_anonymous_users_sent_to_log_in(client_for, volunteer, live_campaign):
    subject = live_campaign.subjects.first()
    urls = ["/campaigns/manage/", "/campaigns/manage/new/"] + [
        f"/campaigns/manage/{live_campaign.slug}/{p}" for p in (*PAGES, f"subjects/{subject.pk}/")
    ]
    for url in urls:
        assert client_for(volunteer).get(url).status_code == 403, url
        response = client_for(None).get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_another_scientist_cannot_open_my_campaign(client_for, other_scientist, live_campaign):
    subject = live_campaign.subjects.first()
    for p in (*PAGES, f"subjects/{subject.pk}/"):
        assert client_for(other_scientist).get(f"/campaigns/manage/{live_campaign.slug}/{p}").status_code == 403
    response = client_for(other_scientist).post(
        f"/campaigns/manage/{live_campaign.slug}/subjects/{subject.pk}/gold/", {"answer": "real"}
    )
    assert response.status_code == 403
    subject.refresh_from_db()
    assert subject.gold_answer == ""


def test_my_campaigns_lists_what_i_manage(client_for, scientist, other_scientist, live_campaign):
    campaign_create(actor=other_scientist, name="Not mine at all")
    page = client_for(scientist).get("/campaigns/manage/").content.decode()
    assert live_campaign.name in page
    assert "Not mine at all" not in page
    assert "/campaigns/manage/new/" in page


def test_the_builder_page_carries_its_script_and_no_inline_code(client_for, scientist, live_campaign):
    for url in ("/campaigns/manage/new/", f"/campaigns/manage/{live_campaign.slug}/edit/"):
        html = client_for(scientist).get(url).content.decode()
        assert "frontend/js/campaign_builder/page.js" in html
        assert 'id="builder-data" type="application/json"' in html
        assert "<script>" not in html
        assert 'id="preview-grid"' in html


def test_inspect_shows_counts_consensus_and_links_to_the_subject(
    client_for, scientist, live_campaign, django_user_model
):
    subject = live_campaign.subjects.order_by("alert__candid").first()
    for person, answer in zip(make_volunteers(django_user_model, 2), ["real", "bogus"], strict=True):
        cast(live_campaign, subject, person, answer)
    html = client_for(scientist).get(f"/campaigns/manage/{live_campaign.slug}/inspect/?sort=-votes").content.decode()
    assert f"/campaigns/manage/{live_campaign.slug}/subjects/{subject.pk}/" in html
    assert "real 1" in html
    assert "bogus 1" in html
    assert f"/api/alerts/{subject.alert.candid}/cutouts/difference.png" in html
    assert "/exports/zooniverse/" in html
    filtered = client_for(scientist).get(f"/campaigns/manage/{live_campaign.slug}/inspect/?retired=true").content
    assert f"/subjects/{subject.pk}/".encode() not in filtered


def test_the_subject_page_lists_every_vote_and_marks_gold(client_for, scientist, live_campaign, django_user_model):
    subject = live_campaign.subjects.first()
    people = make_volunteers(django_user_model, 2)
    cast(live_campaign, subject, people[0], "real")
    cast(live_campaign, subject, people[1], "skip")
    url = f"/campaigns/manage/{live_campaign.slug}/subjects/{subject.pk}/"
    html = client_for(scientist).get(url).content.decode()
    assert people[0].username in html
    assert people[1].username in html
    assert "Skip" in html
    response = client_for(scientist).post(url + "gold/", {"answer": "bogus", "note": "ghost"})
    assert response.status_code == 302
    subject.refresh_from_db()
    assert subject.gold_answer == "bogus"


def test_the_dashboard_embeds_the_plot_as_json_for_static_js(client_for, scientist, live_campaign, django_user_model):
    subject = live_campaign.subjects.first()
    cast(live_campaign, subject, make_volunteers(django_user_model, 1)[0], "real")
    html = client_for(scientist).get(f"/campaigns/manage/{live_campaign.slug}/dashboard/").content.decode()
    assert 'id="per-day-plot" type="application/json"' in html
    assert "bokeh/bokeh.min.js" in html
    assert "frontend/js/campaign_dashboard.js" in html
    assert "Leaderboard" in html
    assert "v000" in html
