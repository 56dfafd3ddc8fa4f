"""Best-effort live messages to the classify pages (Channels groups; Redis in production).

Votes are the scarce thing, live counters are not: every function here swallows channel-layer failures (Redis
down, slow or misconfigured) after logging them, and gives up after ``SEND_TIMEOUT_S``, so a vote never fails
or waits because of them. Message formats are documented in ``frontend.consumers.classify``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from functools import partial

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.db import connections

from labeling.progress import campaign_progress

log = logging.getLogger(__name__)

BROADCAST_GROUP = "blink.broadcast"
SEND_TIMEOUT_S = 0.5
# A burst of votes sends at most one count per campaign per interval and process, and once the burst is over one
# more, counted afresh: the last vote of a burst is never left out. The page that voted takes the count from each
# vote's own response as well.
MIN_INTERVAL_S = 0.2

_last_sent: dict[int, float] = {}
_last_vote: dict[int, float] = {}
_settling: set[int] = set()  # campaigns with a closing count pending
_last_lock = threading.Lock()


def campaign_group(campaign_id: int) -> str:
    return f"campaign.{campaign_id}"


async def _send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    await asyncio.wait_for(layer.group_send(group, message), timeout=SEND_TIMEOUT_S)


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The running event loop of the ASGI server whose request this thread is serving, if any (asgiref notes
    it in the thread when it runs sync code for that loop)."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is None or getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    return loop if loop.is_running() else None


def _log_unsent(group: str, future) -> None:
    exc = None if future.cancelled() else future.exception()
    if exc is not None:
        log.warning("live message to %s not sent: %s", group, exc or type(exc).__name__)


def _send_quietly(
    group: str, message: dict, *, wait: bool = True, loop: asyncio.AbstractEventLoop | None = None
) -> bool:
    """Send ``message`` to ``group``; never raises. With ``wait=False``, inside a request served by an ASGI
    server (or with that server's running ``loop``), the send is handed to the server's event loop and the caller
    goes on at once (returns True: sent off; a failure is logged later)."""
    if loop is None or not loop.is_running():
        loop = None if wait else _server_loop()
    if loop is not None:
        future = asyncio.run_coroutine_threadsafe(_send(group, message), loop)
        future.add_done_callback(partial(_log_unsent, group))
        return True
    try:
        async_to_sync(_send)(group, message)
    except Exception as exc:  # noqa: BLE001 - any layer failure must leave the caller untouched
        log.warning("live message to %s not sent: %s", group, exc or type(exc).__name__)
        return False
    return True


def count_message(campaign_id: int, *, fresh: bool = False) -> dict:
    progress = campaign_progress(campaign_id=campaign_id, fresh=fresh)
    return {"type": "campaign.count", "campaign": campaign_id, **progress}


def publish_vote(*, campaign_id: int) -> bool:
    """Tell the campaign's open pages its new classification count. Call through ``transaction.on_commit`` so
    only stored votes are announced. Returns whether a message went out (or, inside a request an ASGI server
    serves, was handed to its event loop without waiting); False when the throttle held it back, in which case
    a closing count follows once the campaign has been quiet for ``MIN_INTERVAL_S``."""
    now = time.monotonic()
    with _last_lock:
        _last_vote[campaign_id] = now
        throttled = now - _last_sent.get(campaign_id, -1e9) < MIN_INTERVAL_S
        if not throttled:
            _last_sent[campaign_id] = now
        settle = throttled and campaign_id not in _settling
        if settle:
            _settling.add(campaign_id)
    if throttled:
        if settle:
            _settle_later(campaign_id, MIN_INTERVAL_S, _server_loop())
        return False
    try:
        message = count_message(campaign_id)
    except Exception as exc:  # noqa: BLE001 - a counting hiccup must not turn a stored vote into an error
        log.warning("live count for campaign %s not computed: %s", campaign_id, exc)
        return False
    # Not waited for: the vote is stored and answered already, and under load a hop to the server's event loop
    # and back made every fifth vote wait its turn there, which showed in the vote's tail latency.
    return _send_quietly(campaign_group(campaign_id), message, wait=False)


def _settle_later(campaign_id: int, delay: float, loop: asyncio.AbstractEventLoop | None) -> None:
    timer = threading.Timer(delay, _settle, args=(campaign_id, loop))
    timer.daemon = True
    timer.start()


def _settle(campaign_id: int, loop: asyncio.AbstractEventLoop | None) -> None:
    """The closing count of a burst (in a timer thread): sent once no vote came for ``MIN_INTERVAL_S``, counted
    afresh so that votes other web processes stored are in it too."""
    with _last_lock:
        quiet_for = time.monotonic() - _last_vote.get(campaign_id, -1e9)
        done = quiet_for >= MIN_INTERVAL_S
        if done:
            _settling.discard(campaign_id)
            _last_sent[campaign_id] = time.monotonic()
    if not done:
        _settle_later(campaign_id, MIN_INTERVAL_S - quiet_for, loop)
        return
    try:
        message = count_message(campaign_id, fresh=True)
    except Exception as exc:  # noqa: BLE001 - the next vote's count will do
        log.warning("live count for campaign %s not computed: %s", campaign_id, exc)
        return
    finally:
        connections.close_all()  # this thread's own connection: it ends here
    _send_quietly(campaign_group(campaign_id), message, loop=loop)


def publish_model_live(*, task: str, version: int | str, text: str = "") -> bool:
    """Tell every open classify page that a new model version is live (sent by the active-learning loop after
    a promotion). ``text`` replaces the default notice."""
    label = f"{task} v{version}"
    message = {
        "type": "model.live",
        "task": task,
        "version": str(version),
        "text": text or f"A new model is live ({label}): scores and queue order now come from it.",
    }
    return _send_quietly(BROADCAST_GROUP, message)


def reset_throttle() -> None:
    with _last_lock:
        _last_sent.clear()
        _last_vote.clear()
        _settling.clear()
