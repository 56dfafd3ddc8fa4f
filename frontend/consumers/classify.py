"""Live updates for the classify page: ``ws/campaigns/<slug>/``.

Only a signed-in user who may classify in the campaign (``labeling.votes.can_classify``) is accepted; anyone
else is closed with code 4403 before the handshake completes (the browser sees the connection refused).

Channel-layer groups and messages (send them with ``channel_layer.group_send(group, message)``; the helpers in
``labeling.live`` do it best-effort):

``campaign.<campaign id>`` -- the campaign's open pages::

    {"type": "campaign.count", "campaign": 7, "classifications": 1234, "subjects": 500, "retired": 120,
     "percent_retired": 24.0}

  sent by ``labeling.live.publish_vote`` after each stored vote (throttled to one per 0.2 s per web process,
  with a closing count once a burst is over, so the last vote is never left out);
  the page receives ``{"type": "count", ...the same keys}`` and updates its counter and progress bar.

``blink.broadcast`` -- every open classify page::

    {"type": "model.live", "task": "real_bogus", "version": "3",
     "text": "A new model is live (real_bogus v3): scores and queue order now come from it."}

  sent by ``labeling.live.publish_model_live`` when a model version is promoted; the page receives
  ``{"type": "model_live", "task", "version", "text"}`` and shows ``text`` as a quiet notice (#live-notice).

On connect the page receives one ``count`` message at once, so the counter is right before the next vote.
If the channel layer is unreachable the socket is still accepted and sends that first count. Pages left
open through a Redis restart get live updates back within ``blink_setting("LIVE_REJOIN_SECONDS")``, and a fresh count
(``frontend.consumers.groups``).
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.urls import path

from frontend.consumers.groups import RejoiningGroupsMixin
from labeling.live import BROADCAST_GROUP, campaign_group, count_message
from labeling.models import Campaign
from labeling.votes import can_classify

CLOSE_NOT_ALLOWED = 4403


@database_sync_to_async
def _campaign_open_to(slug: str, user) -> Campaign | None:
    campaign = Campaign.objects.filter(slug=slug).first()
    if campaign is None or user is None or not can_classify(campaign=campaign, volunteer=user):
        return None
    return campaign


@database_sync_to_async
def _count(campaign_id: int) -> dict:
    return count_message(campaign_id)


class CampaignLiveConsumer(RejoiningGroupsMixin, AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        slug = self.scope["url_route"]["kwargs"]["slug"]
        campaign = await _campaign_open_to(slug, user) if user is not None and user.is_authenticated else None
        if campaign is None:
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        self.campaign_id = campaign.pk
        self.groups_wanted = [campaign_group(campaign.pk), BROADCAST_GROUP]
        healthy = await self.join_groups()
        await self.accept()
        await self.catch_up()
        self.keep_joining(healthy=healthy)

    async def catch_up(self) -> None:
        await self.campaign_count(await _count(self.campaign_id))

    async def disconnect(self, code):
        await self.leave_groups()

    async def receive_json(self, content, **kwargs):
        # The page only listens; a ping gets a fresh count (the page sends one after reconnecting).
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.campaign_count(await _count(self.campaign_id))

    async def campaign_count(self, event):
        await self.send_json(
            {
                "type": "count",
                "classifications": event.get("classifications"),
                "subjects": event.get("subjects"),
                "retired": event.get("retired"),
                "percent_retired": event.get("percent_retired"),
            }
        )

    async def model_live(self, event):
        await self.send_json(
            {
                "type": "model_live",
                "task": event.get("task"),
                "version": event.get("version"),
                "text": event.get("text") or "A new model is live.",
            }
        )


websocket_urlpatterns = [path("ws/campaigns/<slug:slug>/", CampaignLiveConsumer.as_asgi(), name="ws-campaign")]
