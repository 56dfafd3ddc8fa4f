"""ws/training/ delivers the loop's progress events to ML leads and refuses everyone else."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from activelearning import events, retraining
from frontend.consumers.training import TrainingConsumer

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(user):
    app = TrainingConsumer.as_asgi()
    comm = WebsocketCommunicator(app, "/ws/training/")
    comm.scope["user"] = user
    comm.scope["url_route"] = {"args": (), "kwargs": {}}
    return comm


@pytest.fixture(autouse=True)
def _fresh_layer(settings):
    # Each test gets its own in-memory layer (Redis when REDIS_URL is set would work the same, but shares state).
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


async def _connect(user):
    comm = communicator(user)
    connected, code = await comm.connect()
    return comm, connected, code


def test_an_ml_lead_gets_a_snapshot_then_each_progress_event(mllead, scientist):
    from labeling.models import REAL_BOGUS_CLASSES, Campaign

    campaign = Campaign.objects.create(
        name="Sock", slug="sock", owner=scientist, classes=REAL_BOGUS_CLASSES, state=Campaign.State.LIVE
    )

    def queue_and_train():
        run, _ = retraining.trigger_retraining(task="real_bogus", campaign=campaign, user=mllead)
        events.record(run.pk, "epoch", epoch=1, epochs=3, loss=0.61, val_loss=0.64, member="braai")
        return run

    async def scenario():
        comm, connected, _ = await _connect(mllead)
        assert connected
        snapshot = await comm.receive_json_from(timeout=5)
        run = await database_sync_to_async(queue_and_train)()
        queued = await comm.receive_json_from(timeout=5)
        epoch = await comm.receive_json_from(timeout=5)
        await comm.disconnect()
        return snapshot, run, queued, epoch

    snapshot, run, queued, epoch = async_to_sync(scenario)()
    assert snapshot["type"] == "snapshot"
    assert snapshot["live"] is True
    assert [c["slug"] for c in snapshot["overview"]["campaigns"]] == ["sock"]
    assert queued["type"] == "event"
    assert queued["run"] == run.pk
    assert queued["event"]["event"] == "queued"
    assert epoch["event"]["event"] == "epoch"
    assert epoch["event"]["loss"] == 0.61
    assert epoch["status"] == "queued"


def test_an_admin_gets_classifier_training_progress_too(admin_user):
    async def scenario():
        comm, connected, _ = await _connect(admin_user)
        assert connected
        await comm.receive_json_from(timeout=5)
        await get_channel_layer().group_send(
            "training", {"type": "training.progress", "run_id": 7, "task": "real_bogus", "event": {"event": "epoch"}}
        )
        message = await comm.receive_json_from(timeout=5)
        await comm.disconnect()
        return message

    assert async_to_sync(scenario)() == {"type": "event", "run": 7, "status": None, "event": {"event": "epoch"}}


def test_everyone_else_is_refused(volunteer, scientist):
    async def scenario(user):
        comm, connected, code = await _connect(user)
        await comm.disconnect()
        return connected, code

    for user in (AnonymousUser(), volunteer, scientist):
        assert async_to_sync(scenario)(user) == (False, 4403), user
