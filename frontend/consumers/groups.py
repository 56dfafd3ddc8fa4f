"""Channel-layer group membership that outlives a Redis restart.

Redis (run without persistence) forgets every group when it restarts, and a socket that joined before then
would wait for messages that never come. A consumer with this mixin joins its groups on connect and again every
``blink_setting("LIVE_REJOIN_SECONDS")`` (joining is idempotent), and calls ``catch_up`` when a join succeeds after
failing, since what was sent meanwhile is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from core.conf import blink_setting

log = logging.getLogger(__name__)

# The ML leads' training sockets: the run events of every training, relayed by ``frontend.receivers``.
TRAINING_GROUP = "training"


class RejoiningGroupsMixin:
    groups_wanted: list[str]

    async def join_groups(self) -> bool:
        """Join every wanted group; True when all joins went through."""
        joined = getattr(self, "groups_joined", None)
        if joined is None:
            joined = self.groups_joined = []
        ok = True
        for group in self.groups_wanted:
            try:
                await self.channel_layer.group_add(group, self.channel_name)
                if group not in joined:
                    joined.append(group)
            except Exception as exc:  # noqa: BLE001 - the page works without live updates
                ok = False
                log.warning("websocket could not join %s: %s", group, exc or type(exc).__name__)
        return ok

    def keep_joining(self, *, healthy: bool) -> None:
        self._rejoin = asyncio.create_task(self._keep_joining(healthy))

    async def catch_up(self) -> None:
        """Bring the page up to date after live messages may have been lost."""

    async def _keep_joining(self, healthy: bool) -> None:
        interval = blink_setting("LIVE_REJOIN_SECONDS")
        while True:
            await asyncio.sleep(interval)
            joined = await self.join_groups()
            if joined and not healthy:
                with contextlib.suppress(Exception):
                    await self.catch_up()
            healthy = joined

    async def leave_groups(self) -> None:
        task = getattr(self, "_rejoin", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for group in getattr(self, "groups_joined", []):
            # Leaving a group on a dead layer has nothing to undo.
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(group, self.channel_name)
