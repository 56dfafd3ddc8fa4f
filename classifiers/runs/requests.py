"""Asking for a training run: the one in-flight rule and the options a run accepts.

Every trigger (the ML lead's button and API, the registry API, ``manage.py train_model``, the active-learning
policy) calls :func:`request_run`. One run per task may be queued or running: the partial unique index on
``TrainingRun`` turns two requests at once into one run, and the second caller gets that run back.

A run starts from random weights, or, with ``from_version``, fine-tunes that version's weights (any version of
the task, imported or trained); ``freeze_conv`` then keeps its convolutions as they are. The options are checked
here, when the run is asked for, so a bad one is refused to whoever asked, naming the option. So are the labels:
a run whose campaign (or the demo truth) gives too few labelled objects of each class is refused before it is
queued (:class:`NothingToTrainOn`), saying what is missing, instead of failing in the worker seconds later.
"""

from __future__ import annotations

import numpy as np
from django.db import IntegrityError, transaction

from classifiers.ensemble import GROUPS, streak_targets
from classifiers.labelled import LabelledSet
from classifiers.models import BRAAI_TASKS, PARENT_TASKS, ModelVersion, Task, TrainingRun
from classifiers.runs import events, worker
from classifiers.runs.selectors import in_flight
from classifiers.runs.steps import HYPERPARAMETER_OPTIONS, PROMOTE_POLICIES, labels_to_learn
from core.errors import ServiceError
from labeling.models import Campaign

OPTIONS = {*HYPERPARAMETER_OPTIONS, "from_version", "freeze_conv", "promote"}
# What a fine-tune from the console learns from when no campaign is chosen: the demo alerts' known truth.
DEMO_LABELS = "demo"
MAX_EPOCHS = 200
# Objects of each class a run needs outside the held-out set: the object split then gives each class a place in
# training, validation and test (with fewer, a class lands on one side only and the test figures mean nothing).
MIN_OBJECTS_PER_CLASS = 3


class RunRefused(ServiceError, ValueError):
    """A training request that cannot be run as asked; ``field`` names the option at fault."""


class NothingToTrainOn(RunRefused):
    """The run's labels are too few to train on: refused before queueing, ``field`` ``campaign``."""

    code = "not_enough_labels"


def starting_version(task: str, value) -> ModelVersion:
    """The version a fine-tune of ``task`` starts from: ``value`` is its id; any status, never another task's,
    except that a Rubin run may start from ZTF's braai (``PARENT_TASKS``): that is how the Rubin model begins."""
    try:
        version = ModelVersion.objects.defer("weights").get(pk=int(value))
    except (TypeError, ValueError, ModelVersion.DoesNotExist):
        raise RunRefused(f"no model version {value!r} to start from", field="from_version") from None
    if version.task not in PARENT_TASKS[Task(task)]:
        raise RunRefused(
            f"{version.label} is a {version.get_task_display()} model: a {task} run cannot start from it",
            field="from_version",
        )
    return version


def _start_label(options: dict) -> str:
    """What the run starts from, as the loop page says it."""
    if "from_version" not in options:
        return "random weights"
    label = ModelVersion.objects.get(pk=options["from_version"]).label
    return f"{label}, convolutions frozen" if options.get("freeze_conv") else label


def check_options(task: str, options: dict) -> dict:
    """The run's options, or :class:`RunRefused` naming the first bad one."""
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise RunRefused(f"unknown training option(s): {', '.join(unknown)}", field=unknown[0])
    promote = options.get("promote", "never")
    if promote not in PROMOTE_POLICIES:
        raise RunRefused(f"promote must be one of {', '.join(PROMOTE_POLICIES)}, not {promote!r}", field="promote")
    options = {k: v for k, v in options.items() if v is not None}
    if "from_version" in options:
        options["from_version"] = starting_version(task, options["from_version"]).pk
    if options.get("freeze_conv") and "from_version" not in options:
        raise RunRefused("freezing the convolutions needs a version to start from", field="freeze_conv")
    if "freeze_conv" in options:
        options["freeze_conv"] = bool(options["freeze_conv"])
    return options


def _class_objects(task: str, labelled: LabelledSet) -> dict[str, tuple[int, int]]:
    """{(question, positive name, negative name): (positive objects, negative objects)}: one question for braai,
    one per streak group (each group learns from the labels its question applies to)."""
    objects = np.array(labelled.object_ids, dtype=object)
    if task in BRAAI_TASKS:
        targets = {("real/bogus", "real", "bogus"): (labelled.y, np.ones(len(labelled), dtype=np.float32))}
    else:
        by_group = streak_targets(labelled.labels)
        targets = {(f"streak group {group}", "positive", "negative"): by_group[group] for group in GROUPS}
    out = {}
    for question, (y, mask) in targets.items():
        applies = mask > 0
        out[question] = tuple(len(set(objects[applies & (y == value)])) for value in (1, 0))
    return out


def _where(campaign) -> str:
    return f"campaign {campaign.slug!r}" if campaign is not None else "the demo alerts' known truth"


def _how_labels_come(campaign) -> str:
    if campaign is None:
        return "ingest demo alerts (manage.py setup_demo) or choose a campaign"
    rule = (
        f"a subject is labelled once it retires, after {campaign.retire_after} vote{'s' * (campaign.retire_after > 1)}"
    )
    if campaign.retire_agree_k:
        rule += f" or {campaign.retire_agree_k} agreeing ones"
    return rule + ": classify more of its subjects, or retrain on a campaign with more retired subjects"


def check_labels(task: str, campaign=None) -> LabelledSet:
    """The labels a run of ``task`` on ``campaign`` would learn from, or :class:`NothingToTrainOn` saying what
    is missing: none at all, or fewer than ``MIN_OBJECTS_PER_CLASS`` objects of a class."""
    labelled = labels_to_learn(task, campaign)
    where = _where(campaign)
    if len(labelled) == 0:
        held = labelled.heldout_excluded
        what = f"no labelled alert outside the held-out set ({held} there, never trained on)" if held else "no label"
        raise NothingToTrainOn(
            f"nothing to train on: {where} has {what} yet; {_how_labels_come(campaign)}", field="campaign"
        )
    for (question, pos_name, neg_name), (positive, negative) in _class_objects(task, labelled).items():
        if min(positive, negative) < MIN_OBJECTS_PER_CLASS:
            raise NothingToTrainOn(
                f"too few labels to train on: {where} has {len(labelled)} labelled alert(s) outside the held-out "
                f"set, {positive} {pos_name} and {negative} {neg_name} object(s) for the {question} question; a "
                f"training needs at least {MIN_OBJECTS_PER_CLASS} of each; {_how_labels_come(campaign)}",
                field="campaign",
            )
    return labelled


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
    options = check_options(task, dict(options or {}))
    check_labels(task, campaign)
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
            start=_start_label(options),
        )
        if enqueue:
            worker.enqueue(run)
        return run, True
    raise RuntimeError(f"could not queue a {task} training: runs keep finishing and starting concurrently")


def request_fine_tune(
    *, actor, version: ModelVersion, labels: str, epochs=None, freeze_conv: bool = False, trigger: str = "console"
) -> tuple[TrainingRun, bool]:
    """Queue a fine-tune of ``version`` (kept as a candidate for the ML lead) on a campaign's consensus labels,
    ``labels`` being its slug, or on the demo truth (:data:`DEMO_LABELS`). The run trains the campaign's task: a
    ZTF braai version fine-tuned on a Rubin campaign gives a Rubin version. Refusals name the input at fault."""
    campaign, task = None, version.task
    if labels != DEMO_LABELS:
        campaign = Campaign.objects.filter(slug=labels or "").first()
        if campaign is None or version.task not in PARENT_TASKS.get(campaign.model_task, ()):
            raise RunRefused(f"choose the labels to learn from (no {version.task} campaign {labels!r})", field="labels")
        task = campaign.model_task
    try:
        epochs = int(epochs) if str(epochs or "").strip() else None
    except ValueError:
        raise RunRefused(f"epochs must be a whole number, not {epochs!r}", field="epochs") from None
    if epochs is not None and not 1 <= epochs <= MAX_EPOCHS:
        raise RunRefused(f"epochs must be between 1 and {MAX_EPOCHS}", field="epochs")
    options = {"epochs": epochs, "from_version": version.pk, "freeze_conv": freeze_conv or None, "promote": "never"}
    return request_run(task=task, campaign=campaign, triggered_by=actor, trigger=trigger, options=options)
