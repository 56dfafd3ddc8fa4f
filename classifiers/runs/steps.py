"""The steps of a running run: labels, training, registration, evaluation on the fixed held-out set, decision.

A run trains on its labels with the fixed held-out objects left out (a campaign's consensus labels, weighted by
consensus confidence; the demo truth without a campaign), so its candidate and the active version can be
compared on alerts neither has learnt from. What happens to the candidate is the run's ``promote`` option:

* ``never``: kept as a candidate for the ML lead;
* ``always``: promoted (the ML lead asked for it);
* ``if_not_worse``: promoted when its held-out ROC AUC is not below the active version's by more than
  ``PROMOTE_MARGIN`` and it loses no more than its margin on any reference set that guards promotion
  (:func:`classifiers.reference_sets.promotion_guard`), else kept.

Every candidate is scored on every reference set of its task when its training ends; the figures ride on the
``evaluated`` event under ``metrics["reference_sets"]``.

Decision, promotion and the run's final status are written in one transaction: a worker killed before it
leaves the active version as it was, and a run the reaper closed meanwhile promotes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from django.db import transaction
from django.utils import timezone

from classifiers import registry, training
from classifiers.architectures import BraaiHyperparameters, StreakHyperparameters
from classifiers.evaluation import binary_metrics
from classifiers.labelled import DEMO_TRUTH, LabelledSet, heldout_set, labelled_alerts
from classifiers.models import ModelVersion, RegistryEvent, Task, TrainingRun
from classifiers.preprocessing import load_inputs
from classifiers.reference_sets import evaluate_pair, promotion_guard
from classifiers.scoring import score_inputs
from core.conf import blink_setting

HYPERPARAMETER_OPTIONS = ("epochs", "seed", "batch_size", "learning_rate", "patience")
# A fine-tune starts from weights that already separate the classes: a step this small adapts them to the new
# labels without first undoing what they learnt (a from-scratch rate would).
FINE_TUNING_LEARNING_RATE = {Task.REAL_BOGUS: 1e-4, Task.STREAKS: 5e-4}
PROMOTE_POLICIES = ("never", "always", "if_not_worse")
HEADLINE = ("n", "n_positive", "roc_auc", "accuracy", "precision", "recall", "fpr", "fnr", "version")

Record = Callable[..., dict]


class RunSuperseded(RuntimeError):
    """The run was reaped (or otherwise closed) while this worker was still on it: its result is dropped."""


def training_labels(run: TrainingRun) -> LabelledSet:
    if run.campaign_id is not None:
        return labelled_alerts(run.task, campaign=run.campaign, split="train")
    return labelled_alerts(run.task, sources=(DEMO_TRUTH,), split="train")


def hyperparameters(task: str, options: dict) -> BraaiHyperparameters | StreakHyperparameters:
    """The architecture's defaults, the run's options over them; a fine-tune (``from_version``) learns at
    ``FINE_TUNING_LEARNING_RATE`` unless the run names its own rate."""
    defaults = BraaiHyperparameters() if task == Task.REAL_BOGUS else StreakHyperparameters()
    if options.get("from_version") is not None:
        defaults = replace(defaults, learning_rate=FINE_TUNING_LEARNING_RATE[task])
    # Cast to the field's own type: jsonb hands a learning rate of 1e38 back as an integer.
    given = {k: type(getattr(defaults, k))(options[k]) for k in HYPERPARAMETER_OPTIONS if options.get(k) is not None}
    return replace(defaults, **given)


def evaluate_on_heldout(version: ModelVersion | None, heldout: LabelledSet) -> dict | None:
    """Headline metrics of ``version`` on the held-out set (None without a version), fed its own input recipe:
    candidate and active version may shape their input differently."""
    if version is None:
        return None
    if not heldout.alert_ids:
        return {"n": 0, "roc_auc": None, "version": version.version}
    scores, _, _ = score_inputs(version, load_inputs(heldout.alert_ids, recipe=registry.recipe_of(version)))
    threshold = float((version.thresholds or {}).get("operating", 0.5)) if version.task == Task.REAL_BOGUS else 0.5
    metrics = binary_metrics(heldout.y, np.asarray(scores, dtype=np.float64), threshold, curves=False)
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


def decide(policy: str, candidate: dict | None, active: dict | None, *, margin: float | None) -> tuple[bool, str]:
    """The run's ``promote`` option applied to the held-out metrics of candidate and active version."""
    if policy == "always":
        return True, "the run was asked to promote its candidate"
    if policy == "if_not_worse":
        return promotion_decision(candidate, active, margin=margin)
    return False, "this run does not promote: kept as a candidate for the ML lead"


def guarded(candidate: ModelVersion, active: ModelVersion | None, reason: str) -> tuple[bool, str]:
    """An auto-promotion the held-out set allows must also pass every reference set that guards promotion."""
    ok, why = promotion_guard(candidate, active)
    return (True, f"{reason}; {why}") if ok else (False, f"{why}: kept as a candidate for the ML lead")


def _training_listener(record: Record) -> Callable[[dict], None]:
    """classifiers.training's progress (loading, start, epoch, early_stop, evaluated) as running steps."""

    def listen(event: dict) -> None:
        event = dict(event)
        step = event.pop("event", "progress")
        if step == "registered":
            return  # the run records its own ``registered`` phase once train() has returned the version
        record("running", step="tested" if step == "evaluated" else step, **event)

    return listen


def _headline(metrics: dict | None) -> dict | None:
    return None if metrics is None else {k: metrics[k] for k in HEADLINE if k in metrics}


def _starting_version(options: dict) -> ModelVersion | None:
    pk = options.get("from_version")
    return None if pk is None else ModelVersion.objects.defer("weights").get(pk=pk)


def train_evaluate_decide(run: TrainingRun, record: Record) -> dict:
    options = run.options or {}
    labelled = training_labels(run)
    described = labelled.describe()
    record(
        "running",
        step="labels",
        n=described["n"],
        per_label=described["per_label"],
        source=described["source"],
        heldout_excluded=labelled.heldout_excluded,
    )
    active = registry.active_version(run.task)
    start = _starting_version(options)
    campaign = f" on campaign {run.campaign.slug}" if run.campaign_id else ""
    how = f"Fine-tuned from {start.label}" if start is not None else "Trained from scratch"
    version = training.train(
        task=run.task,
        labelled=labelled,
        hp=hyperparameters(run.task, options),
        progress=_training_listener(record),
        from_version=start,
        freeze_conv=bool(options.get("freeze_conv")),
        created_by=run.triggered_by,
        notes=f"{how} by training run #{run.pk} ({run.trigger}){campaign}.",
    )
    record("registered", version_id=version.pk, version=version.version, label=version.label)

    heldout = heldout_set(run.task)
    metrics = {"candidate": evaluate_on_heldout(version, heldout), "active": evaluate_on_heldout(active, heldout)}
    # Every candidate (and an active version not yet scored on a set's current content) on every reference set.
    reference = evaluate_pair(version, active)
    policy = options.get("promote", "never")
    margin = blink_setting("PROMOTE_MARGIN") if policy == "if_not_worse" else None
    record(
        "evaluated",
        version_id=version.pk,
        metrics={**{k: _headline(v) for k, v in metrics.items()}, "reference_sets": reference},
        heldout=heldout.describe(),
        candidate_version=version.version,
        active_version=active.version if active else None,
        margin=margin,
    )
    promote, reason = decide(policy, metrics["candidate"], metrics["active"], margin=margin)
    if promote and policy == "if_not_worse":
        promote, reason = guarded(version, active, reason)
    _conclude(run, version, active, promote=promote, reason=reason, metrics={**heldout.describe(), **metrics})
    record(
        "promoted" if promote else "kept",
        heartbeat=False,
        version_id=version.pk,
        version=version.version,
        label=version.label,
        reason=reason,
    )
    return {
        "run": run.pk,
        "status": TrainingRun.Status.SUCCEEDED,
        "version": version.version,
        "promoted": promote,
        "reason": reason,
    }


@transaction.atomic
def _conclude(run, version, active, *, promote: bool, reason: str, metrics: dict) -> None:
    """Store the held-out metrics on the version, promote it or keep it, and close the run, all at once."""
    locked = TrainingRun.objects.select_for_update().filter(pk=run.pk).first()
    if locked is None or locked.status != TrainingRun.Status.RUNNING or locked.attempts != run.attempts:
        raise RunSuperseded(f"run {run.pk} was closed by someone else before its decision; nothing promoted")
    ModelVersion.objects.filter(pk=version.pk).update(metrics={**(version.metrics or {}), "heldout": metrics})
    why = f"training run #{run.pk}: {reason}"
    if promote and (run.options or {}).get("promote") == "always":
        registry.promote(version, actor=run.triggered_by, reason=why, run=run)
    elif promote:
        registry.promote(version, actor=None, reason=why, action=RegistryEvent.Action.AUTO_PROMOTE, run=run)
    else:
        RegistryEvent.objects.create(
            task=run.task, action=RegistryEvent.Action.REJECT, version=version, previous_active=active, reason=why
        )
    locked.status = TrainingRun.Status.SUCCEEDED
    locked.version = version
    locked.finished_at = timezone.now()
    locked.save(update_fields=["status", "version", "finished_at"])
