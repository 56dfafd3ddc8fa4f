"""Issue 22's probe on access: Talk does not show or take a private campaign, an ML lead changes only the
campaigns that invited them, and a websocket opens only from Blink's own origin (port included)."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.test import Client

from core.errors import ServiceError
from labeling.expert_review import subjects_send_for_expert_answer
from labeling.models import Campaign, Comment, Subject
from tests.labeling.classify_helpers import make_alerts, make_campaign

pytestmark = pytest.mark.django_db


def _named(campaign: Campaign, name: str) -> Campaign:
    campaign.name = name
    campaign.save(update_fields=["name"])
    return campaign


@pytest.fixture
def private(other_scientist):
    campaign = make_campaign(
        other_scientist, make_alerts(2, stamps=False), slug="secret-survey", access=Campaign.Access.LISTED
    )
    return _named(campaign, "Secret survey of Orion")


@pytest.fixture
def draft(other_scientist):
    campaign = make_campaign(
        other_scientist, make_alerts(1, start=40, stamps=False), slug="draft-one", state=Campaign.State.DRAFT
    )
    return _named(campaign, "Unannounced draft")


class TestTalkKeepsPrivateCampaignsPrivate:
    @pytest.mark.parametrize("which", ["private", "draft"])
    def test_a_talk_page_does_not_show_a_campaign_closed_to_the_reader(
        self, client_for, volunteer, private, draft, which
    ):
        campaign = {"private": private, "draft": draft}[which]
        alert = campaign.subjects.first().alert
        client = client_for(volunteer)
        page = client.get(f"/talk/alert/{alert.candid}/?campaign={campaign.slug}")
        assert page.status_code == 200
        assert campaign.name not in page.content.decode()
        if which == "private":  # once listed, the volunteer is shown the way back to it
            campaign.volunteers.add(volunteer)
            assert campaign.name in client.get(f"/talk/alert/{alert.candid}/?campaign={campaign.slug}").content.decode()

    def test_a_comment_cannot_be_tied_to_a_private_campaign_by_the_api(self, api_for, volunteer, private):
        alert = private.subjects.first().alert
        body = {"body": "What is this?", "campaign": private.slug}
        r = api_for(volunteer).post(
            f"/api/talk/alerts/{alert.candid}/comments/", data=json.dumps(body), content_type="application/json"
        )
        assert r.status_code == 400
        assert r.json()["field"] == "campaign"
        # Said exactly as for a campaign that does not exist.
        assert r.json()["detail"] == "no campaign 'secret-survey'"
        assert not Comment.objects.exists()

    def test_a_comment_cannot_be_tied_to_a_private_campaign_by_the_form(self, client_for, volunteer, private):
        alert = private.subjects.first().alert
        r = client_for(volunteer).post(
            f"/talk/alert/{alert.candid}/", {"body": "What is this?", "campaign": private.slug}
        )
        assert r.status_code == 302
        comment = Comment.objects.get()
        assert comment.campaign is None
        assert private.slug not in r["Location"]

    def test_the_service_refuses_a_campaign_the_author_cannot_see(self, volunteer, private):
        from labeling.talk import TalkRefused, comment_post

        with pytest.raises(TalkRefused) as refused:
            comment_post(alert=private.subjects.first().alert, author=volunteer, body="hi", campaign=private)
        assert refused.value.field == "campaign"
        assert not Comment.objects.exists()


class TestExpertReviewNeedsTheCampaignsConsent:
    @pytest.fixture
    def scientists_campaign(self, scientist):
        return make_campaign(scientist, make_alerts(3, start=60, stamps=False), slug="sams-campaign")

    def test_an_ml_lead_not_invited_cannot_send_subjects_or_overwrite_notes(self, mllead, scientists_campaign):
        subject = scientists_campaign.subjects.order_by("pk").first()
        Subject.objects.filter(pk=subject.pk).update(gold_note="the scientist's own note")
        outsider = make_alerts(1, start=70, stamps=False)[0]
        with pytest.raises(ServiceError) as refused:
            subjects_send_for_expert_answer(
                actor=mllead, campaign=scientists_campaign, notes={subject.alert_id: "mine", outsider.pk: "mine"}
            )
        assert (refused.value.status, refused.value.field) == (403, "campaign")
        subject.refresh_from_db()
        assert subject.gold_note == "the scientist's own note"
        assert not scientists_campaign.subjects.filter(alert=outsider).exists()

    def test_the_console_says_why_and_changes_nothing(self, api_for, mllead, scientists_campaign):
        subject = scientists_campaign.subjects.order_by("pk").first()
        r = api_for(mllead).post(
            "/api/console/disagreements/send/",
            {"subject_ids": [subject.pk], "target": "gold", "campaign": scientists_campaign.slug},
            format="json",
        )
        assert r.status_code == 403, r.content
        assert "only the owner" in r.json()["detail"]
        subject.refresh_from_db()
        assert subject.gold_note == ""

    def test_an_invited_ml_lead_may(self, mllead, scientists_campaign):
        scientists_campaign.collaborators.add(mllead)
        subject = scientists_campaign.subjects.order_by("pk").first()
        done = subjects_send_for_expert_answer(
            actor=mllead, campaign=scientists_campaign, notes={subject.alert_id: "check this"}
        )
        assert done["marked"] == 1


class TestWebsocketOrigin:
    def _connects(self, volunteer, campaign, origin: str | None, host: str = "testserver") -> bool:
        from channels.testing import WebsocketCommunicator

        from config.asgi import application

        c = Client()
        c.force_login(volunteer)
        headers = [(b"host", host.encode()), (b"cookie", f"sessionid={c.cookies['sessionid'].value}".encode())]
        if origin is not None:
            headers.append((b"origin", origin.encode()))

        async def attempt() -> bool:
            communicator = WebsocketCommunicator(application, f"/ws/campaigns/{campaign.slug}/", headers=headers)
            try:
                connected, _ = await communicator.connect(timeout=10)
            finally:
                await communicator.disconnect()
            return connected

        return asyncio.run(attempt())

    @pytest.fixture
    def campaign(self, scientist):
        return make_campaign(scientist, make_alerts(1, start=80, stamps=False), slug="ws-origin")

    @pytest.mark.django_db(transaction=True)
    @pytest.mark.parametrize(
        ("origin", "host", "opens"),
        [
            ("http://localhost:8000", "localhost:8000", True),
            ("http://localhost:9999", "localhost:8000", False),
            ("http://localhost", "localhost:8000", False),
            ("http://localhost:8000", "localhost", False),
            ("https://testserver", "testserver", True),
            ("http://evil.example", "testserver", False),
            (None, "testserver", False),
        ],
    )
    def test_the_origin_must_be_the_site_port_included(self, volunteer, campaign, origin, host, opens):
        assert self._connects(volunteer, campaign, origin, host) is opens
