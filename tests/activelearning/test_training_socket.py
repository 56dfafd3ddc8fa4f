"""ws/training/ delivers every training run's events, in the one event format, to ML leads and admins only."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from activelearning.policy import request_retraining
from classifiers.runs import events
from classifiers.runs.requests import request_run
from frontend.consumers.training import TrainingConsumer
from tests.conftest import labels_to_train_on

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


def _watch(user, action, n_messages: int) -> tuple[dict, list[dict]]:
    """Connect as ``user``, do ``action`` (in a thread, with the database), return the snapshot and the next
    ``n_messages`` messages."""

    async def scenario():
        comm, connected, _ = await _connect(user)
        assert connected
        snapshot = await comm.receive_json_from(timeout=5)
        await database_sync_to_async(action)()
        messages = [await comm.receive_json_from(timeout=5) for _ in range(n_messages)]
        await comm.disconnect()
        return snapshot, messages

    return async_to_sync(scenario)()


def test_an_ml_lead_gets_a_snapshot_then_each_event_of_a_loop_run(mllead, scientist):
    from labeling.models import REAL_BOGUS_CLASSES, Campaign

    campaign = Campaign.objects.create(
        name="Sock", slug="sock", owner=scientist, classes=REAL_BOGUS_CLASSES, state=Campaign.State.LIVE
    )
    labels_to_train_on(campaign)
    started = {}

    def queue_and_train():
        run, _ = request_retraining(task="real_bogus", campaign=campaign, user=mllead)
        started["run"] = run
        events.record(run, "running", step="epoch", epoch=1, epochs=3, loss=0.61, val_loss=0.64, member="braai")

    snapshot, (queued, epoch) = _watch(mllead, queue_and_train, 2)
    run = started["run"]
    assert snapshot["type"] == "snapshot"
    # An in-memory layer carries no event of another process (the worker): the page must not claim "live".
    assert snapshot["live"] is False
    assert [c["slug"] for c in snapshot["overview"]["campaigns"]] == ["sock"]
    run.refresh_from_db()
    assert queued == {"type": "event", "event": run.progress[0]}  # what the page gets is what the run recorded
    assert queued["event"]["run"] == run.pk
    assert queued["event"]["phase"] == "queued"
    assert queued["event"]["campaign"] == "sock"
    assert epoch["type"] == "event"
    assert {k: epoch["event"][k] for k in ("run", "phase", "step", "epoch", "epochs", "loss", "val_loss")} == {
        "run": run.pk, "phase": "running", "step": "epoch", "epoch": 1, "epochs": 3, "loss": 0.61, "val_loss": 0.64,
    }  # fmt: skip
    assert "at" in epoch["event"]


def test_a_run_asked_for_from_the_registry_api_reaches_the_page_in_the_same_format(admin_user):
    labels_to_train_on()
    started = {}

    def queue():
        started["run"], _ = request_run(task="real_bogus", trigger="api", options={"epochs": 2})

    _, (queued,) = _watch(admin_user, queue, 1)
    started["run"].refresh_from_db()
    assert queued == {"type": "event", "event": started["run"].progress[0]}
    assert queued["event"]["phase"] == "queued"
    assert queued["event"]["trigger"] == "api"


def test_everyone_else_is_refused(volunteer, scientist):
    async def scenario(user):
        comm, connected, code = await _connect(user)
        await comm.disconnect()
        return connected, code

    for user in (AnonymousUser(), volunteer, scientist):
        assert async_to_sync(scenario)(user) == (False, 4403), user
