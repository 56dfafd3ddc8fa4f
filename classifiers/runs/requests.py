"""Asking for a training run: the one in-flight rule and the options a run accepts.

Every trigger (the ML lead's button and API, the registry API, ``manage.py train_model``, the active-learning
policy) calls :func:`request_run`. One run per task may be queued or running: the partial unique index on
``TrainingRun`` turns two requests at once into one run, and the second caller gets that run back.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from classifiers.models import Task, TrainingRun
from classifiers.runs import events, worker
from classifiers.runs.selectors import in_flight
from classifiers.runs.steps import HYPERPARAMETER_OPTIONS, PROMOTE_POLICIES

OPTIONS = {*HYPERPARAMETER_OPTIONS, "warm_start", "promote"}


def check_options(options: dict) -> dict:
    """The run's options, or ValueError naming the first bad one."""
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise ValueError(f"unknown training option(s): {', '.join(unknown)}")
    promote = options.get("promote", "never")
    if promote not in PROMOTE_POLICIES:
        raise ValueError(f"promote must be one of {', '.join(PROMOTE_POLICIES)}, not {promote!r}")
    return {k: v for k, v in options.items() if v is not None}


def request_run(
    *,
    task: str,
    campaign=None,
    triggered_by=None,
    trigger: str = "manual",
    options: dict | None = None,
    enqueue: bool = True,
) -> tuple[TrainingRun, bool]:
    """Queue a training of ``task`` on ``campaign``'s consensus labels (demo truth without a campaign).

    Returns ``(run, created)``: when a run of the task is already queued or running, that run and False.
    ``enqueue=False`` leaves the run for the caller to execute in its own process (``train_model``)."""
    if task not in Task.values:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(Task.values)}")
    options = check_options(dict(options or {}))
    user = triggered_by if triggered_by is not None and triggered_by.is_authenticated else None
    # A dead worker's run would block every request of its task until someone reaps it.
    worker.reap_stale_runs()
    for _ in range(3):
        try:
            with transaction.atomic():
                run = TrainingRun.objects.create(
                    task=task, campaign=campaign, triggered_by=user, trigger=trigger, options=options
                )
        except IntegrityError:
            existing = in_flight(task)
            if existing is not None:
                return existing, False
            continue  # the run in flight finished between our insert and our look-up: try again
        events.record(
            run,
            "queued",
            heartbeat=False,
            trigger=trigger,
            campaign=campaign.slug if campaign is not None else None,
            by=user.username if user is not None else None,
            labels_since_training=campaign.labels_since_training if campaign is not None else None,
        )
        if enqueue:
            worker.enqueue(run)
        return run, True
    raise RuntimeError(f"could not queue a {task} training: runs keep finishing and starting concurrently")
