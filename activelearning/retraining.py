"""Retraining: from a trigger to a candidate version, a promotion decision, a rescored pool and reordered queues.

The life of one run (a ``classifiers.TrainingRun``)::

    trigger_retraining()            ML lead's button / API, or automatically every ``Campaign.retrain_every``
      -> TrainingRun queued         consensus labels; the partial unique index "one queued or running run per
                                    task" makes two triggers at once yield one run (the second gets the first)
      -> run_training (task)        ``manage.py db_worker``: warm-starts from the active version, trains on the
                                    campaign's consensus labels weighted by consensus confidence (the fixed
                                    held-out objects excluded), registers a candidate
      -> evaluation + decision      candidate and active version scored on the fixed held-out set; promoted
                                    when not worse by more than ``PROMOTE_MARGIN`` in ROC AUC, else kept as a
                                    candidate for the ML lead. Decision, promotion and the run's final status are
                                    written in one transaction: a worker killed before it leaves the active
                                    version as it was.
      -> rescore_and_reorder (task) after a promotion: the pool is scored by the new version and every queue of
                                    the task reordered, in the background, while volunteers keep classifying.

A NaN loss stops the training (``classifiers.training.Diverged``): the run is marked ``diverged`` and nothing is
registered or promoted. A worker that dies leaves its run ``running`` with a heartbeat that stops; the reaper
(:func:`reap_stale_runs`, called at every trigger and task start and by ``manage.py reap_training_runs``) marks
it ``failed`` and queues one retry (``attempts`` < 2).

The fixed held-out set: alerts whose objectId hashes (sha256 with a fixed salt) into the lowest
``HELDOUT_FRACTION`` of buckets, with known truth (demo truth, or a gold-standard expert answer). Every worker
computes the same set from the objectId alone; its alerts never enter a retraining set.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from activelearning import events
from classifiers.models import ModelVersion, RegistryEvent, TrainingRun
from labeling.models import Campaign, Subject

log = logging.getLogger(__name__)

IN_FLIGHT = (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)
MAX_ATTEMPTS = 2


def setting(name: str, default):
    return getattr(settings, "BLINK", {}).get(name, default)


def heldout_fraction() -> float:
    return float(setting("HELDOUT_FRACTION", 0.2))


def promote_margin() -> float:
    return float(setting("PROMOTE_MARGIN", 0.01))


def stale_after_seconds() -> float:
    return float(setting("TRAINING_STALE_SECONDS", 120))


def heartbeat_seconds() -> float:
    return float(setting("TRAINING_HEARTBEAT_SECONDS", 10))


# ------------------------------------------------------------------------------------------------------------
# The fixed held-out set
# ------------------------------------------------------------------------------------------------------------


def heldout_bucket(object_id: str) -> float:
    """A number in [0, 1) fixed by the objectId: every alert of one object falls in the same bucket."""
    salt = setting("HELDOUT_SALT", "blink-heldout-v1")
    digest = hashlib.sha256(f"{salt}:{object_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def is_heldout(object_id: str) -> bool:
    return heldout_bucket(object_id) < heldout_fraction()


@dataclass
class HeldOut:
    alert_ids: list[int]
    labels: list[str]
    y: np.ndarray

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for alert_id, label in sorted(zip(self.alert_ids, self.labels, strict=True)):
            digest.update(f"{alert_id}:{label}\n".encode())
        return digest.hexdigest()[:16]

    def describe(self) -> dict:
        return {
            "n": len(self.alert_ids),
            "n_positive": int(self.y.sum()) if len(self.y) else 0,
            "fraction": heldout_fraction(),
            "fingerprint": self.fingerprint,
        }


def _positive(task_name: str, labels: list[str]) -> np.ndarray:
    if task_name == "streaks":
        from classifiers.ensemble import PLAUSIBLE_CLASSES

        return np.array([label in PLAUSIBLE_CLASSES for label in labels], dtype=np.float32)
    from classifiers.training import real_bogus_targets

    return real_bogus_targets(labels)


def heldout_set(task_name: str) -> HeldOut:
    """The task's fixed held-out alerts with their truth: demo truth first, else a gold-standard answer."""
    from classifiers.ensemble import STREAK_TARGETS
    from labeling.models import Alert

    known = set(STREAK_TARGETS) | {"real", "bogus"}
    if task_name == "streaks":
        known -= {"bogus"}
    chosen: dict[int, str] = {}
    for pk, object_id, truth in Alert.objects.exclude(demo_truth="").values_list("pk", "object_id", "demo_truth"):
        if truth in known and is_heldout(object_id):
            chosen[pk] = truth
    question = "streak" if task_name == "streaks" else "real_bogus"
    gold = (
        Subject.objects.exclude(gold_answer="")
        .filter(campaign__question_type=question, alert__demo_truth="")
        .values_list("alert_id", "alert__object_id", "gold_answer")
    )
    for alert_id, object_id, answer in gold:
        if answer in known and alert_id not in chosen and is_heldout(object_id):
            chosen[alert_id] = answer
    ids = sorted(chosen)
    labels = [chosen[i] for i in ids]
    return HeldOut(ids, labels, _positive(task_name, labels) if labels else np.zeros(0, dtype=np.float32))


def evaluate_on_heldout(version: ModelVersion | None, heldout: HeldOut, x: np.ndarray | None = None) -> dict | None:
    """Headline metrics of ``version`` on the held-out set (None without a version)."""
    if version is None:
        return None
    from classifiers.evaluation import binary_metrics
    from classifiers.preprocessing import load_inputs
    from classifiers.scoring import score_inputs

    if not heldout.alert_ids:
        return {"n": 0, "roc_auc": None}
    if x is None:
        x = load_inputs(heldout.alert_ids)
    scores, _, _ = score_inputs(version, x)
    threshold = 0.5
    if version.task == "real_bogus":
        threshold = float((version.thresholds or {}).get("operating", 0.5))
    metrics = binary_metrics(heldout.y, np.asarray(scores, dtype=np.float64), threshold)
    metrics.pop("confusion", None)
    return {**metrics, "version": version.version}


def promotion_decision(candidate: dict | None, active: dict | None, *, margin: float) -> tuple[bool, str]:
    """Promote when the candidate's held-out ROC AUC is not below the active's by more than ``margin``."""
    if active is None:
        return True, "no active version to compare with: the candidate becomes the first active model"
    cand_auc = (candidate or {}).get("roc_auc")
    act_auc = active.get("roc_auc")
    if cand_auc is None or act_auc is None:
        n = (candidate or {}).get("n", 0)
        return False, f"the held-out set ({n} alerts) cannot rank both classes: waiting for the ML lead"
    if cand_auc >= act_auc - margin:
        return True, f"held-out ROC AUC {cand_auc:.4f} vs active {act_auc:.4f} (within the margin of {margin:g})"
    return False, (
        f"held-out ROC AUC {cand_auc:.4f} is below the active {act_auc:.4f} by more than {margin:g}: "
        "kept as a candidate for the ML lead"
    )


# ------------------------------------------------------------------------------------------------------------
# Triggering
# ------------------------------------------------------------------------------------------------------------


def in_flight(task_name: str) -> TrainingRun | None:
    return TrainingRun.objects.filter(task=task_name, status__in=IN_FLIGHT).order_by("created_at").first()


def _enqueue(run: TrainingRun) -> None:
    from activelearning.tasks import run_training

    result = run_training.enqueue(run_id=run.pk)
    TrainingRun.objects.filter(pk=run.pk).update(task_result_id=str(result.id))
    run.task_result_id = str(result.id)


def trigger_retraining(
    *,
    task: str,
    campaign: Campaign | None,
    user=None,
    trigger: str = "manual",
    options: dict | None = None,
) -> tuple[TrainingRun, bool]:
    """Queue a retraining of ``task`` on ``campaign``'s consensus labels. Returns ``(run, created)``: when a run
    of this task is already queued or running, that run and False (two triggers at once make one training)."""
    from classifiers.models import Task

    if task not in Task.values:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(Task.values)}")
    if campaign is None:
        raise ValueError("campaign is required: retraining learns from a campaign's consensus labels")
    reap_stale_runs()
    for _ in range(3):
        try:
            with transaction.atomic():
                run = TrainingRun.objects.create(
                    task=task,
                    campaign=campaign,
                    triggered_by=user if (user is not None and user.is_authenticated) else None,
                    trigger=trigger,
                    options={**(options or {}), "loop": True},
                    status=TrainingRun.Status.QUEUED,
                )
        except IntegrityError:
            existing = in_flight(task)
            if existing is not None:
                return existing, False
            continue  # the run in flight finished between our insert and our look-up: try again
        events.record(
            run.pk,
            "queued",
            heartbeat=False,
            trigger=trigger,
            campaign=campaign.slug,
            by=getattr(user, "username", None),
            labels_since_training=campaign.labels_since_training,
        )
        _enqueue(run)
        return run, True
    raise RuntimeError(f"could not queue a {task} training: runs keep finishing and starting concurrently")


def note_consensus_labels(*, campaign_id: int, n: int = 1) -> TrainingRun | None:
    """Count new consensus labels of a campaign; trigger a retraining when ``retrain_every`` is reached (off by
    default). Called after a subject retires. Never raises: a vote must not fail because of the loop."""
    try:
        Campaign.objects.filter(pk=campaign_id).update(labels_since_training=F("labels_since_training") + n)
        campaign = Campaign.objects.filter(pk=campaign_id).first()
        if campaign is None or not campaign.retrain_every or campaign.labels_since_training < campaign.retrain_every:
            return None
        if in_flight(campaign.model_task) is not None:
            return None
        run, _ = trigger_retraining(task=campaign.model_task, campaign=campaign, trigger="auto")
        return run
    except Exception:  # noqa: BLE001
        log.exception("auto-retraining check of campaign %s failed", campaign_id)
        return None


# ------------------------------------------------------------------------------------------------------------
# Faults: heartbeat and the stale-run reaper
# ------------------------------------------------------------------------------------------------------------


class Heartbeat(threading.Thread):
    """Touches ``heartbeat_at`` every few seconds while a run trains, from its own thread (and connection), so a
    long epoch does not look like a dead worker and a killed worker stops beating at once."""

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


def is_loop_run(run: TrainingRun) -> bool:
    """Runs queued by this loop carry ``options["loop"]``; others come from ``classifiers.runs`` (train_model
    command and the registry API), which beat only once per progress event."""
    return bool((run.options or {}).get("loop"))


def _schedule_retry(run: TrainingRun, reason: str) -> TrainingRun | None:
    """One more attempt as a new run (the failed one stays in the record), when attempts are left."""
    if run.attempts >= MAX_ATTEMPTS:
        return None
    if not is_loop_run(run):
        return _schedule_classifiers_retry(run, reason)
    if run.campaign_id is None:
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
                status=TrainingRun.Status.QUEUED,
            )
    except IntegrityError:
        return None  # another run of this task is already in flight: it supersedes the retry
    events.record(run.pk, "retry", heartbeat=False, retry_run=retry.pk, reason=reason)
    events.record(retry.pk, "queued", heartbeat=False, trigger="retry", retry_of=run.pk, attempt=run.attempts + 1)
    _enqueue(retry)
    return retry


def _schedule_classifiers_retry(run: TrainingRun, reason: str) -> TrainingRun | None:
    """Retry a run of ``classifiers.runs`` with its own machinery and options."""
    from classifiers.runs import ALLOWED_OPTIONS, TrainingAlreadyInFlight, request_training

    options = {k: v for k, v in (run.options or {}).items() if k in ALLOWED_OPTIONS}
    try:
        retry = request_training(
            task=run.task, triggered_by=run.triggered_by, campaign=run.campaign, trigger="retry", options=options
        )
    except TrainingAlreadyInFlight:
        return None
    TrainingRun.objects.filter(pk=retry.pk).update(attempts=run.attempts)
    retry.attempts = run.attempts
    events.record(run.pk, "retry", heartbeat=False, retry_run=retry.pk, reason=reason)
    return retry


def reap_stale_runs(*, stale_after: float | None = None) -> list[TrainingRun]:
    """Mark runs whose worker stopped beating ``failed`` and queue one retry each. Returns the runs reaped.

    Loop runs beat every few seconds from a thread, so ``TRAINING_STALE_SECONDS`` (120 s) tells a dead worker;
    other runs beat once per epoch, so they get ``TRAINING_STALE_SECONDS_OTHER`` (30 min) unless ``stale_after``
    is given."""
    now = timezone.now()
    loop_cutoff = now - timezone.timedelta(seconds=stale_after_seconds() if stale_after is None else stale_after)
    other_seconds = float(setting("TRAINING_STALE_SECONDS_OTHER", 1800)) if stale_after is None else stale_after
    other_cutoff = now - timezone.timedelta(seconds=other_seconds)
    candidates = list(
        TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING, heartbeat_at__lt=loop_cutoff).values_list(
            "pk", flat=True
        )
    )
    reaped = []
    for pk in candidates:
        with transaction.atomic():
            run = (
                TrainingRun.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, status=TrainingRun.Status.RUNNING)
                .first()
            )
            if run is None or run.heartbeat_at is None:
                continue
            if run.heartbeat_at >= (loop_cutoff if is_loop_run(run) else other_cutoff):
                continue
            beat = run.heartbeat_at.isoformat(timespec="seconds")
            run.status = TrainingRun.Status.FAILED
            run.finished_at = timezone.now()
            run.error = f"the worker stopped (no heartbeat since {beat}); the active version was not changed"
            run.save(update_fields=["status", "finished_at", "error"])
        events.record(run.pk, "failed", heartbeat=False, reason=run.error, attempt=run.attempts)
        _schedule_retry(run, "worker lost")
        reaped.append(run)
    return reaped


# ------------------------------------------------------------------------------------------------------------
# The training run itself (called by the django-tasks task)
# ------------------------------------------------------------------------------------------------------------


class RunSuperseded(RuntimeError):
    """The run was reaped (or otherwise finished) while this worker was still on it: its result is dropped."""


def training_labels(campaign: Campaign):
    """The campaign's consensus labels (weighted by consensus confidence), the held-out objects left out."""
    from classifiers.training import labelled_from_campaign

    labelled = labelled_from_campaign(campaign)
    keep = np.array([not is_heldout(o) for o in labelled.object_ids], dtype=bool)
    n_heldout = int((~keep).sum())
    return labelled.subset(np.flatnonzero(keep)), n_heldout


def retrain_hyperparameters(task_name: str, options: dict, seed: int):
    """Fine-tuning settings: fewer epochs and a smaller learning rate than a training from scratch, since the
    weights start from the active version."""
    from classifiers.architectures import BraaiHyperparameters, StreakHyperparameters

    epochs = int(options.get("epochs", setting("RETRAIN_EPOCHS", 8)))
    common = {
        "epochs": epochs,
        "patience": int(options.get("patience", max(2, min(4, epochs)))),
        "seed": int(options.get("seed", seed)),
    }
    if "batch_size" in options:
        common["batch_size"] = int(options["batch_size"])
    if task_name == "streaks":
        return StreakHyperparameters(learning_rate=float(options.get("learning_rate", 5e-4)), **common)
    return BraaiHyperparameters(learning_rate=float(options.get("learning_rate", 1e-4)), **common)


def _progress_listener(run_id: int):
    """classifiers.training's progress events (start, epoch, early_stop, evaluated, registered) into the run."""

    def listen(event: dict) -> None:
        event = dict(event)
        kind = event.pop("event", "progress")
        events.record(run_id, kind, **event)

    return listen


def _start(run_id: int) -> TrainingRun | None:
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update(of=("self",)).select_related("campaign").filter(pk=run_id).first()
        if run is None or run.status != TrainingRun.Status.QUEUED:
            return None
        now = timezone.now()
        run.status = TrainingRun.Status.RUNNING
        run.attempts += 1
        run.started_at = now
        run.heartbeat_at = now
        run.save(update_fields=["status", "attempts", "started_at", "heartbeat_at"])
        labels_since = 0
        if run.campaign_id:
            labels_since = run.campaign.labels_since_training
            Campaign.objects.filter(pk=run.campaign_id).update(labels_since_training=0)
    events.record(
        run.pk,
        "started",
        attempt=run.attempts,
        campaign=run.campaign.slug if run.campaign_id else None,
        labels_since_training=labels_since,
    )
    return run


def _finish(run: TrainingRun, status: str, *, error: str = "", version: ModelVersion | None = None) -> bool:
    """Close the run unless someone else (the reaper) already has. True when this worker closed it."""
    with transaction.atomic():
        locked = TrainingRun.objects.select_for_update().filter(pk=run.pk).first()
        if locked is None or locked.status != TrainingRun.Status.RUNNING or locked.attempts != run.attempts:
            return False
        locked.status = status
        locked.error = error[:4000]
        locked.finished_at = timezone.now()
        if version is not None:
            locked.version = version
        locked.save(update_fields=["status", "error", "finished_at", "version"])
    return True


def execute_run(run_id: int) -> dict:
    """Train, evaluate, decide. Called by :func:`activelearning.tasks.run_training` in the worker."""
    from classifiers.training import Diverged, NotEnoughLabels

    reap_stale_runs()
    run = _start(run_id)
    if run is None:
        status = TrainingRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
        return {"run": run_id, "skipped": True, "status": status}
    beat = Heartbeat(run.pk, heartbeat_seconds())
    beat.start()
    try:
        outcome = _train_evaluate_decide(run)
    except Diverged as exc:
        if _finish(run, TrainingRun.Status.DIVERGED, error=str(exc)):
            events.record(run.pk, "diverged", heartbeat=False, reason=str(exc), epoch=exc.epoch, member=exc.member)
        return {"run": run.pk, "status": "diverged", "error": str(exc)}
    except NotEnoughLabels as exc:
        if _finish(run, TrainingRun.Status.FAILED, error=str(exc)):
            events.record(run.pk, "failed", heartbeat=False, reason=str(exc), retry=False)
        return {"run": run.pk, "status": "failed", "error": str(exc)}
    except RunSuperseded as exc:
        return {"run": run.pk, "status": "superseded", "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - any other failure: record it, retry once
        log.exception("training run %s failed", run.pk)
        message = f"{type(exc).__name__}: {exc}"
        if _finish(run, TrainingRun.Status.FAILED, error=message):
            events.record(run.pk, "failed", heartbeat=False, reason=message, attempt=run.attempts)
            _schedule_retry(run, message)
        return {"run": run.pk, "status": "failed", "error": message}
    finally:
        beat.stop()
    return outcome


def _train_evaluate_decide(run: TrainingRun) -> dict:
    from classifiers import registry, training
    from classifiers.preprocessing import load_inputs

    campaign = run.campaign
    labelled, n_heldout = training_labels(campaign)
    events.record(
        run.pk,
        "labels",
        n=len(labelled),
        per_label=dict(sorted(Counter(labelled.labels).items())),
        heldout_excluded=n_heldout,
        weighted_by="consensus confidence (Dawid-Skene posterior, else majority fraction)",
    )
    active = registry.active_version(run.task)
    hp = retrain_hyperparameters(run.task, run.options or {}, seed=run.pk)
    version = training.train(
        task=run.task,
        labelled=labelled,
        hp=hp,
        progress=_progress_listener(run.pk),
        parent=active,
        warm_start=active is not None,
        created_by=run.triggered_by,
        notes=f"Retrained by training run #{run.pk} ({run.trigger}) on campaign {campaign.slug}.",
    )

    heldout = heldout_set(run.task)
    x = load_inputs(heldout.alert_ids) if heldout.alert_ids else None
    candidate_metrics = evaluate_on_heldout(version, heldout, x)
    active_metrics = evaluate_on_heldout(active, heldout, x)
    margin = promote_margin()
    events.record(
        run.pk,
        "evaluation",
        heldout=heldout.describe(),
        candidate=_headline(candidate_metrics),
        active=_headline(active_metrics),
        candidate_version=version.version,
        active_version=active.version if active else None,
        margin=margin,
    )
    promote, reason = promotion_decision(candidate_metrics, active_metrics, margin=margin)
    auto = bool((run.options or {}).get("auto_promote", True))
    if promote and not auto:
        promote, reason = False, f"{reason}; auto-promotion is off for this run: waiting for the ML lead"

    with transaction.atomic():
        locked = TrainingRun.objects.select_for_update().filter(pk=run.pk).first()
        if locked is None or locked.status != TrainingRun.Status.RUNNING or locked.attempts != run.attempts:
            raise RunSuperseded(f"run {run.pk} was closed by someone else before its decision; nothing promoted")
        metrics = dict(version.metrics or {})
        metrics["heldout"] = {**heldout.describe(), "candidate": candidate_metrics, "active": active_metrics}
        ModelVersion.objects.filter(pk=version.pk).update(metrics=metrics)
        if promote:
            registry.promote(
                version,
                actor=None,
                reason=f"training run #{run.pk}: {reason}",
                action=RegistryEvent.Action.AUTO_PROMOTE,
            )
        else:
            RegistryEvent.objects.create(
                task=run.task,
                action=RegistryEvent.Action.REJECT,
                version=version,
                previous_active=active,
                actor=None,
                reason=f"training run #{run.pk}: {reason}",
            )
        locked.status = TrainingRun.Status.SUCCEEDED
        locked.version = version
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "version", "finished_at"])
        # The promotion's own hook (classifiers.registry) calls on_active_version_changed after the commit: the
        # volunteers' notice, the rescoring and the reordering follow every promotion, this one or the ML lead's.
    events.record(
        run.pk,
        "decision",
        heartbeat=False,
        promoted=promote,
        reason=reason,
        version=version.version,
        label=version.label,
    )
    return {"run": run.pk, "status": "succeeded", "version": version.version, "promoted": promote, "reason": reason}


def _headline(metrics: dict | None) -> dict | None:
    if metrics is None:
        return None
    keys = ("n", "n_positive", "roc_auc", "accuracy", "precision", "recall", "fpr", "fnr", "version")
    return {k: metrics.get(k) for k in keys if k in metrics}


# ------------------------------------------------------------------------------------------------------------
# After a promotion
# ------------------------------------------------------------------------------------------------------------


def on_active_version_changed(version_id: int, *, run_id: int | None = None) -> None:
    """A version went live: tell the volunteers, then rescore the pool and reorder the queues in the background.
    Safe to call from ``transaction.on_commit``; never raises."""
    try:
        version = ModelVersion.objects.defer("weights").get(pk=version_id)
        from labeling.live import publish_model_live

        publish_model_live(task=version.task, version=version.version)
        if run_id is None:
            run_id = (
                TrainingRun.objects.filter(version_id=version_id)
                .order_by("-created_at")
                .values_list("pk", flat=True)
                .first()
            )
        from activelearning.tasks import rescore_and_reorder

        rescore_and_reorder.enqueue(version_id=version_id, run_id=run_id)
        if run_id:
            events.record(run_id, "model_live", heartbeat=False, version=version.version, label=version.label)
    except Exception:  # noqa: BLE001
        log.exception("follow-up of the promotion of version %s failed", version_id)


def pool_alert_ids(task_name: str) -> list[int]:
    """Alerts of unretired subjects in the campaigns whose queues follow this task: what a rescoring must cover
    before the queues can be reordered."""
    from activelearning.queue import campaigns_for_task

    ids = (
        Subject.objects.filter(campaign__in=campaigns_for_task(task_name), retired=False)
        .values_list("alert_id", flat=True)
        .distinct()
    )
    return sorted(ids)


def rescore_and_reorder_version(version_id: int, *, run_id: int | None = None) -> dict:
    """Score the pool by ``version`` (alerts it has already scored are skipped), then reorder every queue of the
    task. Skips everything when the version is no longer active (rolled back meanwhile)."""
    from activelearning.queue import campaigns_for_task, reorder_campaign
    from classifiers.models import Score
    from classifiers.scoring import score_alerts

    started = time.perf_counter()
    version = ModelVersion.objects.defer("weights").get(pk=version_id)
    if version.status != ModelVersion.Status.ACTIVE:
        if run_id:
            events.record(run_id, "rescoring_skipped", heartbeat=False, reason=f"{version.label} is no longer active")
        return {"version": version.version, "skipped": True}

    def emit(kind: str, **data) -> None:
        if run_id:
            events.record(run_id, kind, heartbeat=False, **data)

    pool = pool_alert_ids(version.task)
    done = set(Score.objects.filter(version=version, alert_id__in=pool).values_list("alert_id", flat=True))
    todo = [a for a in pool if a not in done]
    campaigns = list(campaigns_for_task(version.task))
    embeddings = version.task == "real_bogus" and any(c.strategy == "ranked_batch" for c in campaigns)
    emit("rescoring", done=0, total=len(todo), version=version.version)
    if todo:
        score_alerts(
            todo,
            version,
            embeddings=embeddings,
            progress=lambda e: emit("rescoring", done=e.get("done"), total=e.get("total"), version=version.version),
        )
    for campaign in campaigns:
        reorder_campaign(campaign, version=version, progress=lambda e: emit(e.pop("event"), **e))
    seconds = round(time.perf_counter() - started, 2)
    emit("done", rescored=len(todo), campaigns=[c.slug for c in campaigns], seconds=seconds)
    return {"version": version.version, "rescored": len(todo), "campaigns": len(campaigns), "seconds": seconds}


def run_summary(run: TrainingRun) -> dict:
    """What the ML lead's page and the API show of a run."""
    progress = list(run.progress or [])
    epochs = [e for e in progress if e.get("event") == "epoch"]
    last = {}
    for e in progress:
        last[e.get("event")] = e
    return {
        "id": run.pk,
        "task": run.task,
        "status": run.status,
        "campaign": run.campaign.slug if run.campaign_id and run.campaign else None,
        "trigger": run.trigger,
        "triggered_by": run.triggered_by.username if run.triggered_by_id and run.triggered_by else None,
        "attempts": run.attempts,
        "created_at": run.created_at.isoformat(timespec="seconds") if run.created_at else None,
        "started_at": run.started_at.isoformat(timespec="seconds") if run.started_at else None,
        "finished_at": run.finished_at.isoformat(timespec="seconds") if run.finished_at else None,
        "heartbeat_at": run.heartbeat_at.isoformat(timespec="seconds") if run.heartbeat_at else None,
        "error": run.error,
        "version": run.version.version if run.version_id and run.version else None,
        "epochs": [{k: e.get(k) for k in ("member", "epoch", "epochs", "loss", "val_loss")} for e in epochs[-60:]],
        "labels": last.get("labels"),
        "evaluation": last.get("evaluation"),
        "decision": last.get("decision"),
        "rescoring": last.get("rescoring"),
        "done": last.get("done"),
        "events": progress[-30:],
    }
