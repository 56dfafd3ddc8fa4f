"""Doing a queued run in ``manage.py db_worker``, and what happens when a run fails or its worker dies.

The task is durable (django-tasks, database backend): a queued run survives a restart of the web server and is
picked up by the next worker. While a run trains, a thread touches ``heartbeat_at`` every
``TRAINING_HEARTBEAT_SECONDS``, so a long epoch does not look like a dead worker and a killed worker stops
beating at once. The reaper (:func:`reap_stale_runs`, called at every request, at every task start and by
``manage.py reap_training_runs``) marks a running run whose heartbeat is older than ``TRAINING_STALE_SECONDS``
failed. One retry rule covers both a run that raised and a reaped one: a new run, while the task has had fewer
than ``MAX_ATTEMPTS`` attempts; after that the run is given up. A diverged run, or one with too few labels, is
not retried: it would fail the same way.
"""

from __future__ import annotations

import logging
import threading

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_tasks import task

from classifiers.fitting import Diverged, NotEnoughLabels
from classifiers.models import TrainingRun
from classifiers.runs import events, steps
from core.conf import blink_setting
from labeling.models import Campaign

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2


@task()
def train_run(run_id: int) -> dict:
    """Train, register, evaluate on the held-out set and promote or keep, for one queued ``TrainingRun``."""
    return execute_run(run_id)


def enqueue(run: TrainingRun) -> None:
    result = train_run.enqueue(run_id=run.pk)
    run.task_result_id = str(result.id)
    TrainingRun.objects.filter(pk=run.pk).update(task_result_id=run.task_result_id)


class Heartbeat(threading.Thread):
    """Touches ``heartbeat_at`` every ``interval`` seconds from its own thread (and connection)."""

    def __init__(self, run_id: int, interval: float):
        super().__init__(name=f"training-heartbeat-{run_id}", daemon=True)
        self.run_id = run_id
        self.interval = interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.wait(self.interval):
                TrainingRun.objects.filter(pk=self.run_id, status=TrainingRun.Status.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
        except Exception:  # noqa: BLE001 - a missed beat is what the reaper is for
            log.exception("heartbeat of run %s stopped", self.run_id)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=self.interval + 5)


def _start(run_id: int) -> tuple[TrainingRun, int] | None:
    """Mark a queued run running (one more attempt); its campaign's count of new labels starts again."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update(of=("self",)).select_related("campaign").filter(pk=run_id).first()
        if run is None or run.status != TrainingRun.Status.QUEUED:
            return None
        run.status = TrainingRun.Status.RUNNING
        run.attempts += 1
        run.started_at = run.heartbeat_at = timezone.now()
        run.error = ""
        run.save(update_fields=["status", "attempts", "started_at", "heartbeat_at", "error"])
        labels_since = 0
        if run.campaign_id:
            labels_since = run.campaign.labels_since_training
            Campaign.objects.filter(pk=run.campaign_id).update(labels_since_training=0)
    return run, labels_since


def _close(run: TrainingRun, status: str, *, error: str) -> bool:
    """Close the run unless someone else (the reaper) already has. True when this worker closed it."""
    with transaction.atomic():
        locked = TrainingRun.objects.select_for_update().filter(pk=run.pk).first()
        if locked is None or locked.status != TrainingRun.Status.RUNNING or locked.attempts != run.attempts:
            return False
        locked.status = status
        locked.error = error[:4000]
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "error", "finished_at"])
    return True


def execute_run(run_id: int, *, progress: events.Listener | None = None) -> dict:
    """Do one queued run to its end. ``progress`` also gets each event (``train_model``'s progress bar).

    Returns the outcome: ``{"run", "status", ...}`` with ``version`` and ``promoted`` on success, ``error``
    otherwise, ``skipped`` when the run was not queued."""
    reap_stale_runs()
    started = _start(run_id)
    if started is None:
        status = TrainingRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
        return {"run": run_id, "skipped": True, "status": status}
    run, labels_since = started
    record = events.recorder(run, progress)
    record("running", step="started", attempt=run.attempts, labels_since_training=labels_since)
    beat = Heartbeat(run.pk, blink_setting("TRAINING_HEARTBEAT_SECONDS"))
    beat.start()
    try:
        return steps.train_evaluate_decide(run, record)
    except Diverged as exc:
        if _close(run, TrainingRun.Status.DIVERGED, error=str(exc)):
            record("diverged", heartbeat=False, reason=str(exc), epoch=exc.epoch, member=exc.member)
        return {"run": run.pk, "status": TrainingRun.Status.DIVERGED, "error": str(exc)}
    except NotEnoughLabels as exc:
        if _close(run, TrainingRun.Status.FAILED, error=str(exc)):
            record("failed", heartbeat=False, reason=str(exc), attempt=run.attempts)
            record("given_up", heartbeat=False, reason="more labels are needed before a retry can succeed")
        return {"run": run.pk, "status": TrainingRun.Status.FAILED, "error": str(exc)}
    except steps.RunSuperseded as exc:
        return {"run": run.pk, "status": "superseded", "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - any other failure: record it, retry once
        log.exception("training run %s failed", run.pk)
        message = f"{type(exc).__name__}: {exc}"
        if _close(run, TrainingRun.Status.FAILED, error=message):
            record("failed", heartbeat=False, reason=message, attempt=run.attempts)
            retry_or_give_up(run, message)
        return {"run": run.pk, "status": TrainingRun.Status.FAILED, "error": message}
    finally:
        beat.stop()


def retry_or_give_up(run: TrainingRun, reason: str) -> TrainingRun | None:
    """The one retry rule: a failed run is tried again as a new run (the failed one stays on record) while
    the task has had fewer than ``MAX_ATTEMPTS`` attempts and no other run of the task is in flight."""
    if run.attempts >= MAX_ATTEMPTS:
        events.record(run, "given_up", heartbeat=False, reason=f"{run.attempts} attempts failed")
        return None
    try:
        with transaction.atomic():
            retry = TrainingRun.objects.create(
                task=run.task,
                campaign_id=run.campaign_id,
                triggered_by_id=run.triggered_by_id,
                trigger="retry",
                options={**(run.options or {}), "retry_of": run.pk},
                attempts=run.attempts,
            )
    except IntegrityError:
        events.record(run, "given_up", heartbeat=False, reason="another run of this task is in flight")
        return None
    events.record(run, "retried", heartbeat=False, retry_run=retry.pk, reason=reason)
    events.record(retry, "queued", heartbeat=False, trigger="retry", retry_of=run.pk, attempt=run.attempts + 1)
    enqueue(retry)
    return retry


def reap_stale_runs(*, stale_after: float | None = None) -> list[TrainingRun]:
    """Mark running runs whose heartbeat stopped failed (the active version is never touched by an unfinished
    run) and retry each by the one rule. Returns the runs reaped."""
    seconds = blink_setting("TRAINING_STALE_SECONDS") if stale_after is None else stale_after
    cutoff = timezone.now() - timezone.timedelta(seconds=seconds)
    stale = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING, heartbeat_at__lt=cutoff)
    reaped = []
    for pk in list(stale.values_list("pk", flat=True)):
        with transaction.atomic():
            # skip_locked: a worker closing this run right now holds its lock; it is not stale.
            run = TrainingRun.objects.select_for_update(skip_locked=True).filter(pk=pk, heartbeat_at__lt=cutoff)
            run = run.filter(status=TrainingRun.Status.RUNNING).first()
            if run is None:
                continue
            run.status = TrainingRun.Status.FAILED
            run.finished_at = timezone.now()
            beat = run.heartbeat_at.isoformat(timespec="seconds")
            run.error = f"the worker stopped (no heartbeat since {beat}); the active version was not changed"
            run.save(update_fields=["status", "finished_at", "error"])
        events.record(run, "failed", heartbeat=False, reason=run.error, attempt=run.attempts)
        retry_or_give_up(run, "worker lost")
        reaped.append(run)
    return reaped
