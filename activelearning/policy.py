"""The active-learning loop's policy over training runs: when to retrain, how, and what follows a promotion.

The run itself (train, register, evaluate on the fixed held-out set, promote or keep) belongs to
``classifiers.runs``; the loop asks for one and never repeats a step of it:

* **when**: the ML lead's button and API, or automatically once a campaign has ``retrain_every`` new consensus
  labels (``labels_changed``, counted by :func:`count_new_label`; off unless the campaign sets it);
* **how**: a fine-tuning of the active version (or of the version the ML lead picks) on the campaign's
  consensus labels, with fewer epochs than a training from scratch and the run's fine-tuning learning rate,
  promoted by the run when the candidate is not worse on the held-out set by more than ``PROMOTE_MARGIN``;
* **what next**: after any promotion (``version_activated``), the pool is scored by the new version and every
  queue of its task reordered, in the background (:func:`rescore_and_reorder`), while volunteers keep
  classifying. Its progress is recorded on the run that promoted the version, so the loop page shows it.
"""

from __future__ import annotations

import logging
import time

from django.db.models import F

from activelearning.queue import campaigns_for_task, reorder_campaign
from classifiers.models import BRAAI_TASKS, ModelVersion, Score, Task, TrainingRun, task_survey
from classifiers.registry import active_version
from classifiers.runs import events
from classifiers.runs.requests import NothingToTrainOn, request_run
from classifiers.runs.selectors import in_flight
from classifiers.scoring import score_alerts
from core.conf import blink_setting
from labeling.models import Campaign, Subject

log = logging.getLogger(__name__)


def starting_point(task: str) -> ModelVersion | None:
    """What a retraining of ``task`` fine-tunes: the task's active version; for the Rubin task while it has none,
    ZTF's active braai (its weights adapted to Rubin stamps, centre-fitted); else None (from scratch)."""
    active = active_version(task)
    if active is None and task == Task.RUBIN_REAL_BOGUS:
        active = active_version(Task.REAL_BOGUS)
    return active


def retraining_options(task: str, *, epochs: int | None = None, auto_promote: bool = True) -> dict:
    """The loop's defaults: a short fine-tune of :func:`starting_point` (from scratch while there is none)."""
    epochs = epochs or blink_setting("RETRAIN_EPOCHS")
    active = starting_point(task)
    return {
        "epochs": epochs,
        "patience": max(2, min(4, epochs)),
        "from_version": active.pk if active is not None else None,
        "promote": "if_not_worse" if auto_promote else "never",
    }


def request_retraining(
    *,
    task: str,
    campaign: Campaign,
    user=None,
    trigger: str = "manual",
    auto_promote: bool = True,
    options: dict | None = None,
) -> tuple[TrainingRun, bool]:
    """Ask for a fine-tuning of ``task``'s active version on ``campaign``'s consensus labels. ``options``
    override the loop's (``from_version``, ``freeze_conv``, ``epochs``, ``learning_rate`` ...). Returns
    ``(run, created)``; a bad option is refused (``classifiers.runs.requests.RunRefused``, naming it), and so are
    labels too few to train on (``NothingToTrainOn``), before anything is queued."""
    if campaign is None:
        raise ValueError("campaign is required: retraining learns from a campaign's consensus labels")
    options = {k: v for k, v in (options or {}).items() if v is not None}
    defaults = retraining_options(task, epochs=options.get("epochs"), auto_promote=auto_promote)
    return request_run(
        task=task, campaign=campaign, triggered_by=user, trigger=trigger, options={**defaults, **options}
    )


def count_new_label(campaign: Campaign) -> TrainingRun | None:
    """Count one new consensus label of the campaign; ask for a retraining once ``retrain_every`` is reached
    (and no run of its task is in flight)."""
    Campaign.objects.filter(pk=campaign.pk).update(labels_since_training=F("labels_since_training") + 1)
    campaign = Campaign.objects.get(pk=campaign.pk)
    if not campaign.retrain_every or campaign.labels_since_training < campaign.retrain_every:
        return None
    if in_flight(campaign.model_task) is not None:
        return None
    try:
        run, _ = request_retraining(task=campaign.model_task, campaign=campaign, trigger="auto")
    except NothingToTrainOn as exc:
        # Enough new labels, yet one class is still missing: the next label asks again.
        log.info("no automatic retraining of %s: %s", campaign.slug, exc.message)
        return None
    return run


def pool_alert_ids(task: str) -> list[int]:
    """Alerts of unretired subjects in the campaigns whose queues follow this task, of the task's survey only (a
    model scores its own survey's stamps): what a rescoring must cover before the queues can be reordered."""
    ids = (
        Subject.objects.filter(campaign__in=campaigns_for_task(task), retired=False, alert__survey=task_survey(task))
        .values_list("alert_id", flat=True)
        .distinct()
    )
    return sorted(ids)


def rescore_and_reorder(version_id: int, *, run_id: int | None = None) -> dict:
    """Score the pool by ``version`` (alerts it has already scored are skipped), then reorder every queue of the
    task. Skips everything when the version is no longer active (rolled back meanwhile)."""
    started = time.perf_counter()
    version = ModelVersion.objects.defer("weights").get(pk=version_id)
    run = TrainingRun.objects.filter(pk=run_id).first() if run_id else None

    def emit(phase: str, **data) -> None:
        if run is not None:
            events.record(run, phase, heartbeat=False, **data)

    if version.status != ModelVersion.Status.ACTIVE:
        emit("rescored", skipped=True, reason=f"{version.label} is no longer active", version_id=version.pk)
        return {"version": version.version, "skipped": True}
    pool = pool_alert_ids(version.task)
    already = set(Score.objects.filter(version=version, alert_id__in=pool).values_list("alert_id", flat=True))
    todo = [a for a in pool if a not in already]
    campaigns = list(campaigns_for_task(version.task))
    embeddings = version.task in BRAAI_TASKS and any(c.strategy == "ranked_batch" for c in campaigns)

    def report_rescoring(done: int) -> None:
        emit("rescoring", done=done, total=len(todo), version_id=version.pk, version=version.version)

    report_rescoring(0)
    if todo:
        score_alerts(todo, version, embeddings=embeddings, progress=lambda e: report_rescoring(e["done"]))
    for campaign in campaigns:
        reorder_campaign(campaign, version=version, progress=lambda e: emit(e.pop("event"), **e))
    seconds = round(time.perf_counter() - started, 2)
    emit("rescored", rescored=len(todo), campaigns=[c.slug for c in campaigns], seconds=seconds, version_id=version.pk)
    return {"version": version.version, "rescored": len(todo), "campaigns": len(campaigns), "seconds": seconds}
