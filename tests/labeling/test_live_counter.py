"""The campaign's live counter equals the stored votes after each vote: in the vote's own answer (the page that
voted) and in the last live message (every other open page), with Redis or the in-process channel layer, and it
reads 100 % only when every subject is retired."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers, get_channel_layer

from labeling import live
from labeling.models import Subject, Vote
from labeling.progress import forget_progress
from tests.labeling.classify_helpers import make_alerts, make_campaign

pytestmark = pytest.mark.django_db(transaction=True)

N_SUBJECTS = 7


@pytest.fixture
def campaign(scientist):
    forget_progress()
    live.reset_throttle()
    yield make_campaign(scientist, make_alerts(N_SUBJECTS, stamps=False), slug="counter", retire_after=1)
    forget_progress()
    live.reset_throttle()


def vote_on_the_next(client, campaign) -> dict:
    """What the classify page does: ask for the next subject, vote on it; the vote's answer's progress."""
    served = client.get(f"/api/campaigns/{campaign.slug}/next/?n=1").json()["subjects"]
    assert served, "no subject left to serve"
    payload = {
        "subject": served[0]["id"],
        "answer": "real",
        "idempotency_key": str(uuid.uuid4()),
        "served": served[0]["served"],
    }
    r = client.post(f"/api/campaigns/{campaign.slug}/votes/", data=json.dumps(payload), content_type="application/json")
    assert r.status_code == 201, r.content
    return r.json()["progress"]


def stored(campaign) -> dict:
    return {
        "classifications": Vote.objects.filter(campaign=campaign).count(),
        "retired": Subject.objects.filter(campaign=campaign, retired=True).count(),
    }


def test_each_vote_answers_with_the_stored_count_and_the_last_reads_100_percent(api_for, volunteer, campaign):
    campaign.volunteers.add(volunteer)  # listed by the scientist: each vote counts in full and retires its subject
    client = api_for(volunteer)
    for _ in range(N_SUBJECTS):
        progress = vote_on_the_next(client, campaign)  # faster than the progress cache's second: a fast volunteer
        assert {k: progress[k] for k in ("classifications", "retired")} == stored(campaign)
    assert progress["classifications"] == N_SUBJECTS
    assert progress["percent_retired"] == 100


def test_the_percentage_reaches_100_only_when_every_subject_is_done():
    from labeling.progress import percent_done

    assert percent_done(139, 140) < 100
    assert percent_done(1999, 2000) == 99.9
    assert percent_done(140, 140) == 100
    assert percent_done(0, 0) == 0


@pytest.fixture(params=["redis", "in-memory"])
def channel_layer(request, settings):
    if request.param == "in-memory":
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    elif "redis" not in settings.CHANNEL_LAYERS["default"]["BACKEND"].lower():
        pytest.skip("REDIS_URL is not set")
    channel_layers.backends.clear()
    yield get_channel_layer()
    channel_layers.backends.clear()


def received(layer, channel: str, *, quiet_s: float = 0.3) -> list[dict]:
    """Every message waiting on ``channel`` (until none came for ``quiet_s``)."""

    async def drain():
        import asyncio

        messages = []
        while True:
            try:
                messages.append(await asyncio.wait_for(layer.receive(channel), timeout=quiet_s))
            except TimeoutError:
                return messages

    return async_to_sync(drain)()


def test_other_pages_get_the_stored_count_after_a_burst_of_votes(
    api_for, volunteer, campaign, channel_layer, monkeypatch
):
    # A throttle wide enough that every vote after the first falls inside it, however slow this machine is.
    monkeypatch.setattr(live, "MIN_INTERVAL_S", 2.0)
    campaign.volunteers.add(volunteer)
    channel = async_to_sync(channel_layer.new_channel)()
    async_to_sync(channel_layer.group_add)(live.campaign_group(campaign.pk), channel)
    client = api_for(volunteer)
    for _ in range(N_SUBJECTS):
        vote_on_the_next(client, campaign)
    time.sleep(2.0 + 1.0)  # the burst is over: the closing count goes out
    messages = received(channel_layer, channel)
    assert messages, "no live count was sent"
    last = messages[-1]
    assert (last["classifications"], last["retired"]) == (N_SUBJECTS, N_SUBJECTS)
    assert last["percent_retired"] == 100
