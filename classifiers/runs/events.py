"""The one event format of a training run, recorded on the run and sent as ``classifiers.signals.run_event``.

Every event is a small JSON object::

    {"run": 42, "phase": "running", "step": "epoch", "epoch": 3, "epochs": 8, "loss": 0.21, "val_loss": 0.25,
     "at": "2026-12-05T14:03:11+00:00"}

``phase`` is where the run is in its life: ``queued``, ``running`` (with a ``step``: ``started``, ``labels``,
``loading``, ``start``, ``epoch``, ``early_stop``, ``tested``), ``registered``, ``evaluated`` (with ``metrics``),
``promoted`` or ``kept`` (with ``reason``), ``diverged``, ``failed`` (with ``reason``), ``retried``, ``given_up``.
Work that follows a promotion may add its own phases to the run it follows (the active-learning loop records
``rescoring``, ``reordered`` and ``rescored``). Version ids ride along where a version is concerned.

Recording is best-effort: a progress line that cannot be stored is logged, never allowed to stop a training.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable

from django.db import connection
from django.utils import timezone

from classifiers.models import TrainingRun
from classifiers.signals import run_event

log = logging.getLogger(__name__)

# Events kept per run: a streak ensemble trains six members for up to twenty epochs each; beyond this the
# oldest events are dropped (the page shows the latest ones; the registry keeps the version's own history).
MAX_EVENTS = 400

Listener = Callable[[dict], None]


def record(run: TrainingRun, phase: str, *, heartbeat: bool = True, **data) -> dict:
    """Append one event to the run (touching its heartbeat unless told not to) and send it. Returns the event."""
    event = {"run": run.pk, "phase": phase, **_jsonable(data), "at": timezone.now().isoformat(timespec="seconds")}
    try:
        _append(run.pk, event, heartbeat=heartbeat)
    except Exception:  # noqa: BLE001 - a progress line must not end the training it describes
        log.exception("event %s of run %s not stored", phase, run.pk)
    try:
        run_event.send(sender=TrainingRun, run=run, event=event)
    except Exception:  # noqa: BLE001 - nor may a listener that fails
        log.exception("a listener of run %s failed on %s", run.pk, phase)
    return event


def recorder(run: TrainingRun, listener: Listener | None = None) -> Callable[..., dict]:
    """``record`` bound to one run, also handing each event to ``listener`` (a command's progress bar)."""

    def record_and_tell(phase: str, **data) -> dict:
        event = record(run, phase, **data)
        if listener is not None:
            try:
                listener(event)
            except Exception:  # noqa: BLE001
                log.exception("progress listener of run %s failed", run.pk)
        return event

    return record_and_tell


def _append(run_id: int, event: dict, *, heartbeat: bool) -> None:
    if connection.vendor != "postgresql":
        progress = list(TrainingRun.objects.filter(pk=run_id).values_list("progress", flat=True).first() or [])
        fields = {"progress": [*progress, event][-MAX_EVENTS:]}
        if heartbeat:
            fields["heartbeat_at"] = timezone.now()
        TrainingRun.objects.filter(pk=run_id).update(**fields)
        return
    # One statement appends in place, so the worker's events and the loop's follow-up events never overwrite
    # each other's.
    table = TrainingRun._meta.db_table
    sets = "progress = COALESCE(progress, '[]'::jsonb) || %s::jsonb"
    if heartbeat:
        sets += ", heartbeat_at = now()"
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {sets} WHERE id = %s", [json.dumps([event]), run_id])
        cursor.execute(
            f"UPDATE {table} SET progress = (SELECT jsonb_agg(e ORDER BY n) FROM jsonb_array_elements(progress) "
            f"WITH ORDINALITY AS t(e, n) WHERE n > jsonb_array_length(progress) - %s) "
            f"WHERE id = %s AND jsonb_array_length(progress) > %s",
            [MAX_EVENTS, run_id, MAX_EVENTS],
        )


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
