"""The ML lead's live view of training runs: ``ws/training/``.

Only a signed-in ML lead or admin is accepted; anyone else is closed with code 4403 before the handshake
completes. The socket joins the Channels group ``training``, to which ``frontend.receivers`` relays every
``classifiers.signals.run_event``, and forwards each one to the page as ``{"type": "event", "event": {...}}``,
the event in the one format of ``classifiers.runs.events`` (``{"run": 42, "phase": "running", ...}``).

On connect the page gets ``{"type": "snapshot", "live": <joined the group>, "overview": {...}}`` (tasks,
campaigns, recent runs), and again whenever it sends ``{"type": "refresh"}`` (it does after a reconnect). If the
channel layer is unreachable the socket is still accepted with its snapshot; the page then follows the runs'
stored events by itself.

Only a layer shared between processes (Redis) carries the worker's events here: ``manage.py db_worker`` records
them in its own process. With the in-memory layer (``make run`` without ``REDIS_URL``) the page does not open this
socket at all and follows the stored events (``classifiers.api.run_events``); ``live`` is never claimed then.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.urls import path

from activelearning.selectors import loop_overview
from core.roles import ADMIN, MLLEAD, has_role
from frontend.consumers.groups import TRAINING_GROUP, RejoiningGroupsMixin

CLOSE_NOT_ALLOWED = 4403


def channel_layer_is_shared() -> bool:
    """Whether events sent in another process (the training worker) can reach this one's sockets."""
    layer = get_channel_layer()
    return layer is not None and not isinstance(layer, InMemoryChannelLayer)


@database_sync_to_async
def _allowed(user) -> bool:
    return bool(user is not None and user.is_authenticated and has_role(user, MLLEAD, ADMIN))


class TrainingConsumer(RejoiningGroupsMixin, AsyncJsonWebsocketConsumer):
    groups_wanted = [TRAINING_GROUP]
    joined = False

    async def connect(self):
        if not await _allowed(self.scope.get("user")):
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        # Without the group the page falls back to refreshing its snapshot every few seconds.
        self.joined = await self.join_groups()
        await self.accept()
        await self.send_snapshot()
        self.keep_joining(healthy=self.joined)

    async def catch_up(self) -> None:
        self.joined = True
        await self.send_snapshot()

    async def disconnect(self, code):
        await self.leave_groups()

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "refresh":
            await self.send_snapshot()

    async def send_snapshot(self):
        overview = await database_sync_to_async(loop_overview)()
        live = self.joined and channel_layer_is_shared()
        await self.send_json({"type": "snapshot", "live": live, "overview": overview})

    async def run_event(self, message):
        await self.send_json({"type": "event", "event": message["event"]})


websocket_urlpatterns = [path("ws/training/", TrainingConsumer.as_asgi(), name="ws-training")]
