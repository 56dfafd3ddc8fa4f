"""The classify page's websocket: only volunteers with access get in; stored votes and new models reach them."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from rest_framework.test import APIClient

from frontend.consumers.classify import CLOSE_NOT_ALLOWED
from frontend.routing import websocket_urlpatterns
from labeling.live import publish_model_live, reset_throttle
from labeling.models import Campaign, Vote
from labeling.progress import forget_progress
from tests.labeling.classify_helpers import make_alerts, make_campaign

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def campaign(scientist):
    forget_progress()
    reset_throttle()
    return make_campaign(scientist, make_alerts(3, stamps=False), slug="live")


def communicator(campaign, user) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/campaigns/{campaign.slug}/")
    comm.scope["user"] = user
    return comm


def vote_through_the_api(campaign, user) -> int:
    client = APIClient()
    client.force_authenticate(user)
    # As the page does: a vote counts only on a subject the next-subject API served.
    card = client.get(f"/api/campaigns/{campaign.slug}/next/?n=1").json()["subjects"][0]
    payload = {"subject": card["id"], "answer": "real", "idempotency_key": str(uuid.uuid4()), "served": card["served"]}
    r = client.post(f"/api/campaigns/{campaign.slug}/votes/", data=json.dumps(payload), content_type="application/json")
    return r.status_code


def test_a_volunteer_gets_the_count_at_once_and_after_each_vote(campaign, volunteer, other_volunteer):
    async def scenario():
        comm = communicator(campaign, volunteer)
        connected, _ = await comm.connect()
        assert connected
        first = await comm.receive_json_from(timeout=5)
        assert first["type"] == "count"
        assert (first["classifications"], first["subjects"], first["retired"]) == (0, 3, 0)
        forget_progress()
        assert await sync_to_async(vote_through_the_api)(campaign, other_volunteer) == 201
        update = await comm.receive_json_from(timeout=5)
        assert update["type"] == "count"
        assert update["classifications"] == 1
        await comm.disconnect()

    async_to_sync(scenario)()
    assert Vote.objects.count() == 1


def test_a_new_model_notice_reaches_every_classify_page(campaign, volunteer):
    async def scenario():
        comm = communicator(campaign, volunteer)
        connected, _ = await comm.connect()
        assert connected
        await comm.receive_json_from(timeout=5)
        assert await sync_to_async(publish_model_live)(task="real_bogus", version=7)
        notice = await comm.receive_json_from(timeout=5)
        assert notice["type"] == "model_live"
        assert notice["version"] == "7"
        assert "new model is live" in notice["text"]
        await comm.disconnect()

    async_to_sync(scenario)()


@pytest.mark.parametrize("who", ["anonymous", "unlisted"])
def test_others_are_refused(campaign, volunteer, who):
    Campaign.objects.filter(pk=campaign.pk).update(access=Campaign.Access.LISTED)
    user = AnonymousUser() if who == "anonymous" else volunteer

    async def scenario():
        comm = communicator(campaign, user)
        connected, code = await comm.connect()
        assert not connected
        assert code == CLOSE_NOT_ALLOWED

    async_to_sync(scenario)()


def test_a_listed_volunteer_is_let_in(campaign, volunteer):
    Campaign.objects.filter(pk=campaign.pk).update(access=Campaign.Access.LISTED)
    campaign.volunteers.add(volunteer)

    async def scenario():
        comm = communicator(campaign, volunteer)
        connected, _ = await comm.connect()
        assert connected
        await comm.disconnect()

    async_to_sync(scenario)()


def test_an_open_page_joins_its_groups_again_after_the_layer_lost_them(campaign, volunteer, settings):
    """Redis keeps no group memberships across a restart: an open socket must rejoin by itself."""
    from channels.layers import get_channel_layer

    from labeling.live import campaign_group

    settings.BLINK = {**settings.BLINK, "LIVE_REJOIN_SECONDS": 0.2}
    # In memory, so the test can take the subscription away the way a Redis restart does (on any layer).
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

    async def scenario():
        comm = communicator(campaign, volunteer)
        connected, _ = await comm.connect()
        assert connected
        await comm.receive_json_from(timeout=5)
        layer = get_channel_layer()
        group = campaign_group(campaign.pk)
        # What a Redis restart does to the page's subscription.
        for channel in list(layer.groups.get(group, {})):
            await layer.group_discard(group, channel)
        assert not layer.groups.get(group)
        await asyncio.sleep(0.6)
        message = {"type": "campaign.count", "classifications": 42, "subjects": 3, "retired": 0, "percent_retired": 0}
        await layer.group_send(group, message)
        update = await comm.receive_json_from(timeout=5)
        assert update["type"] == "count"
        assert update["classifications"] == 42
        await comm.disconnect()

    async_to_sync(scenario)()


def test_a_vote_in_a_served_request_does_not_wait_for_its_live_message(campaign, monkeypatch):
    from labeling import live

    delivered = []

    async def slow_send(group, message):
        await asyncio.sleep(0.6)
        delivered.append((group, message["classifications"]))

    monkeypatch.setattr(live, "_send", slow_send)

    async def scenario():
        loop = asyncio.get_running_loop()
        started = loop.time()
        # sync_to_async: as a request's sync code runs under daphne, with this loop as the server's.
        assert await sync_to_async(live.publish_vote)(campaign_id=campaign.pk)
        assert loop.time() - started < 0.4
        assert delivered == []
        await asyncio.sleep(1.0)
        assert delivered == [(live.campaign_group(campaign.pk), 0)]

    async_to_sync(scenario)()


def test_outside_a_served_request_the_live_message_is_sent_before_returning(campaign, monkeypatch):
    from labeling import live

    delivered = []

    async def send(group, message):
        await asyncio.sleep(0.05)
        delivered.append(group)

    monkeypatch.setattr(live, "_send", send)
    assert live.publish_vote(campaign_id=campaign.pk)
    assert delivered == [live.campaign_group(campaign.pk)]
