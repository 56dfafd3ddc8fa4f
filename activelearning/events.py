"""Progress events of the loop: appended to ``TrainingRun.progress`` and pushed to the ML lead's page.

Every event is a small JSON object ``{"event": <kind>, "at": <ISO time>, ...}``. Kinds, in the order a run
emits them: ``queued``, ``started`` (attempt, labels since the last training), ``labels`` (how many, per label,
held-out excluded), ``loading``, ``start``, ``epoch`` (epoch, epochs, loss, val_loss), ``early_stop``,
``evaluated`` (on the training split's own test objects), ``registered``, ``evaluation`` (candidate vs active on
the fixed held-out set), ``decision`` (promoted or waiting for the ML lead, and why), ``rescoring`` (done, total),
``reordered`` (one per campaign), ``done``; or ``diverged`` / ``failed`` / ``retry``.

Channels group ``training`` receives ``{"type": "training.event", "run": <run id>, "status": <run status>,
"event": {...}}`` for each; ``frontend.consumers.training`` forwards it to the page as
``{"type": "event", "run": ..., "status": ..., "event": {...}}``. Sending is best-effort: a channel layer that is
down or slow (``SEND_TIMEOUT_S``) is logged and skipped, never allowed to stop a training.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.utils import timezone

log = logging.getLogger(__name__)

GROUP = "training"
SEND_TIMEOUT_S = 1.0
# Events kept per run: a streak ensemble trains six members for up to twenty epochs each; beyond this the
# oldest epoch events are dropped (the page shows the latest ones; the registry keeps the full history).
MAX_EVENTS = 400


async def _send(message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    await asyncio.wait_for(layer.group_send(GROUP, message), timeout=SEND_TIMEOUT_S)


def broadcast(message: dict) -> bool:
    """Send one message to the ``training`` group; False (and a log line) when the layer is unavailable."""
    try:
        async_to_sync(_send)(message)
    except Exception as exc:  # noqa: BLE001 - the loop must go on without its live page
        log.warning("training event not broadcast: %s", exc or type(exc).__name__)
        return False
    return True


def _append(run_id: int, event: dict, *, heartbeat: bool) -> str | None:
    from classifiers.models import TrainingRun

    if connection.vendor == "postgresql":
        table = TrainingRun._meta.db_table
        sets = "progress = COALESCE(progress, '[]'::jsonb) || %s::jsonb"
        if heartbeat:
            sets += ", heartbeat_at = now()"
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET {sets} WHERE id = %s RETURNING status", [json.dumps([event]), run_id])
            row = cursor.fetchone()
            if row is not None and cursor.rowcount:
                _trim(run_id)
            return row[0] if row else None
    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None:
        return None
    progress = list(run.progress or []) + [event]
    fields = {"progress": progress[-MAX_EVENTS:]}
    if heartbeat:
        fields["heartbeat_at"] = timezone.now()
    TrainingRun.objects.filter(pk=run_id).update(**fields)
    return run.status


def _trim(run_id: int) -> None:
    from classifiers.models import TrainingRun

    table = TrainingRun._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET progress = (SELECT jsonb_agg(e ORDER BY n) FROM jsonb_array_elements(progress) "
            f"WITH ORDINALITY AS t(e, n) WHERE n > jsonb_array_length(progress) - %s) "
            f"WHERE id = %s AND jsonb_array_length(progress) > %s",
            [MAX_EVENTS, run_id, MAX_EVENTS],
        )


def record(run_id: int, kind: str, *, heartbeat: bool = True, **data) -> dict:
    """Append an event to the run and broadcast it. Returns the event."""
    event = {"event": kind, "at": timezone.now().isoformat(timespec="seconds"), **_jsonable(data)}
    try:
        status = _append(run_id, event, heartbeat=heartbeat)
    except Exception:  # noqa: BLE001 - a progress line must not end the training it describes
        log.exception("progress event %s of run %s not stored", kind, run_id)
        status = None
    broadcast({"type": "training.event", "run": run_id, "status": status, "event": event})
    return event


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):  # NaN, inf: JSON (and jsonb) have none
        return None
    return value
