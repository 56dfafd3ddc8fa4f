"""Training runs: from a trigger (page, API, command, policy) to a registered version, with progress events.

``request_training`` records the run and enqueues the durable task (django-tasks, database backend, run by
``manage.py db_worker``); the partial unique index on ``TrainingRun`` makes two triggers at once one training.
``run_training`` does the work, appending each progress event to the run (for pages that poll) and sending it
to the Channels group ``TRAINING_GROUP`` (for the live page).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone

from classifiers.models import ModelVersion, TrainingRun

log = logging.getLogger(__name__)

TRAINING_GROUP = "training"
MAX_EVENTS = 400
ALLOWED_OPTIONS = {"epochs", "promote", "warm_start", "seed"}


class TrainingAlreadyInFlight(Exception):
    """A training of this task is already queued or running."""

    def __init__(self, run: TrainingRun | None):
        super().__init__(
            f"a {run.task} training is already {run.status} (run {run.pk})"
            if run
            else "a training is already in flight"
        )
        self.run = run


def in_flight(task: str) -> TrainingRun | None:
    return TrainingRun.objects.filter(
        task=task, status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING]
    ).first()


def request_training(
    *,
    task: str,
    triggered_by=None,
    campaign=None,
    trigger: str = "manual",
    options: dict | None = None,
    enqueue: bool = True,
) -> TrainingRun:
    """Record a queued training of ``task`` and enqueue it once the transaction commits.

    Raises :class:`TrainingAlreadyInFlight` when one is already queued or running."""
    from classifiers.models import Task

    if task not in Task.values:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(Task.values)}")
    options = dict(options or {})
    unknown = sorted(set(options) - ALLOWED_OPTIONS)
    if unknown:
        raise ValueError(f"unknown training option(s): {', '.join(unknown)}")
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                task=task, campaign=campaign, triggered_by=triggered_by, trigger=trigger, options=options
            )
    except IntegrityError as exc:
        raise TrainingAlreadyInFlight(in_flight(task)) from exc
    if enqueue:
        transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def _enqueue(run_id: int) -> None:
    from classifiers.tasks import train_model_task

    result = train_model_task.enqueue(run_id)
    TrainingRun.objects.filter(pk=run_id).update(task_result_id=str(result.id))


def _broadcast(run: TrainingRun, event: dict) -> None:
    try:
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(
                TRAINING_GROUP, {"type": "training.progress", "run_id": run.pk, "task": run.task, "event": event}
            )
    except Exception:  # Redis away: the page falls back to polling the run; training goes on
        log.debug("could not broadcast training progress", exc_info=True)


def _recorder(run: TrainingRun, extra: Callable[[dict], None] | None):
    events: list[dict] = list(run.progress or [])

    def record(event: dict) -> None:
        event = {**event, "at": timezone.now().isoformat()}
        events.append(event)
        del events[:-MAX_EVENTS]
        TrainingRun.objects.filter(pk=run.pk).update(progress=events, heartbeat_at=timezone.now())
        _broadcast(run, event)
        if extra is not None:
            extra(event)

    return record


def _labelled_for(run: TrainingRun):
    from classifiers.training import labelled_from_campaign, labelled_from_demo_truth

    if run.campaign_id is not None:
        return labelled_from_campaign(run.campaign)
    return labelled_from_demo_truth()


def run_training(run_id: int, *, progress: Callable[[dict], None] | None = None) -> ModelVersion | None:
    """Do a queued training: mark it running, train, register a candidate (promote it when the run's options
    ask), and mark it succeeded, diverged or failed. Returns the new version, or None when it diverged."""
    from classifiers import registry
    from classifiers.architectures import BraaiHyperparameters, StreakHyperparameters
    from classifiers.training import TASK_REAL_BOGUS, Diverged, train

    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        if run.status in (TrainingRun.Status.SUCCEEDED, TrainingRun.Status.DIVERGED):
            return run.version
        run.status = TrainingRun.Status.RUNNING
        run.started_at = timezone.now()
        run.heartbeat_at = run.started_at
        run.attempts += 1
        run.error = ""
        run.save(update_fields=["status", "started_at", "heartbeat_at", "attempts", "error"])
    record = _recorder(run, progress)
    options = run.options or {}
    try:
        hp_class = BraaiHyperparameters if run.task == TASK_REAL_BOGUS else StreakHyperparameters
        overrides = {k: options[k] for k in ("epochs", "seed") if options.get(k) is not None}
        hp = hp_class(**overrides)
        labelled = _labelled_for(run)
        version = train(
            task=run.task,
            labelled=labelled,
            hp=hp,
            progress=record,
            warm_start=bool(options.get("warm_start")),
            created_by=run.triggered_by,
            notes=f"training run {run.pk} ({run.trigger})",
        )
        if options.get("promote"):
            version = registry.promote(version, actor=run.triggered_by, reason=f"promoted by training run {run.pk}")
            record({"event": "promoted", "version_id": version.pk, "version": version.version})
    except Diverged as exc:
        _finish(run, TrainingRun.Status.DIVERGED, error=str(exc))
        record({"event": "diverged", "error": str(exc)})
        return None
    except Exception as exc:
        _finish(run, TrainingRun.Status.FAILED, error="".join(traceback.format_exception(exc))[-4000:])
        record({"event": "failed", "error": str(exc)})
        raise
    _finish(run, TrainingRun.Status.SUCCEEDED, version=version)
    record({"event": "finished", "version_id": version.pk, "version": version.version, "status": version.status})
    return version


def _finish(run: TrainingRun, status: str, *, error: str = "", version: ModelVersion | None = None) -> None:
    TrainingRun.objects.filter(pk=run.pk).update(
        status=status, error=error, version=version, finished_at=timezone.now()
    )
