"""The one event format of a training run, recorded on the run and sent as ``classifiers.signals.run_event``.

Every event is a small JSON object::

    {"run": 42, "phase": "running", "step": "epoch", "epoch": 3, "epochs": 8, "loss": 0.21, "val_loss": 0.25,
     "at": "2026-12-05T14:03:11+00:00"}

``phase`` is where the run is in its life: ``queued``, ``running`` (with a ``step``: ``started``, ``labels``,
``loading``, ``start``, ``epoch``, ``early_stop``, ``tested``), ``registered``, ``evaluated`` (with ``metrics``),
``promoted`` or ``kept`` (with ``reason``), ``diverged``, ``failed`` (with ``reason``), ``retried``, ``given_up``.
Work that follows a promotion may add its own phases to the run it follows (the active-learning loop records
``rescoring``, ``reordered`` and ``rescored``). Version ids ride along where a version is concerned.

Each stored event gets ``seq``, its number in the run's history (1, 2, ...; it keeps counting after the oldest
events are dropped), so a page that follows the stored events asks for those after the last ``seq`` it has and a
page fed by the websocket can tell an event it already has. Each event is its own committed write (a training
runs outside any transaction), so another process sees every epoch as it ends, not at the end of the training.

Recording is best-effort: a progress line that cannot be stored is logged, never allowed to stop a training.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable

from django.db import connection, transaction
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
    """Store ``event`` as the run's newest, numbering it (``event["seq"]`` is set)."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            progress = list(TrainingRun.objects.filter(pk=run_id).values_list("progress", flat=True).first() or [])
            event["seq"] = next_seq(progress)
            fields = {"progress": [*progress, event][-MAX_EVENTS:]}
            if heartbeat:
                fields["heartbeat_at"] = timezone.now()
            TrainingRun.objects.filter(pk=run_id).update(**fields)
        return
    # One statement appends in place and numbers the event from the stored last one, so the worker's events and
    # the loop's follow-up events never overwrite each other's nor share a number. (Events stored before numbering
    # began count by their position.)
    table = TrainingRun._meta.db_table
    numbered = (
        "%s::jsonb || jsonb_build_object('seq', COALESCE((progress -> -1 ->> 'seq')::int, "
        "jsonb_array_length(COALESCE(progress, '[]'::jsonb))) + 1)"
    )
    sets = f"progress = COALESCE(progress, '[]'::jsonb) || jsonb_build_array({numbered})"
    if heartbeat:
        sets += ", heartbeat_at = now()"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {sets} WHERE id = %s RETURNING (progress -> -1 ->> 'seq')::int",
            [json.dumps(event), run_id],
        )
        row = cursor.fetchone()
        if row is not None:
            event["seq"] = row[0]
        cursor.execute(
            f"UPDATE {table} SET progress = (SELECT jsonb_agg(e ORDER BY n) FROM jsonb_array_elements(progress) "
            f"WITH ORDINALITY AS t(e, n) WHERE n > jsonb_array_length(progress) - %s) "
            f"WHERE id = %s AND jsonb_array_length(progress) > %s",
            [MAX_EVENTS, run_id, MAX_EVENTS],
        )


def next_seq(progress: list[dict]) -> int:
    """The number the next event of a run with these stored events gets."""
    if not progress:
        return 1
    last = progress[-1].get("seq")
    return (last if isinstance(last, int) else len(progress)) + 1


def numbered(progress: list[dict] | None) -> list[dict]:
    """The stored events, each with its ``seq`` (an event stored before numbering began counts by position)."""
    return [e if isinstance(e.get("seq"), int) else {**e, "seq": i} for i, e in enumerate(progress or [], start=1)]


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
