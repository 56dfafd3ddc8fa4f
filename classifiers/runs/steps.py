"""The steps of a running run: labels, training, registration, evaluation on the fixed held-out set, decision.

A run trains on its labels with the fixed held-out objects left out (a campaign's consensus labels, weighted by
consensus confidence; the demo truth without a campaign), so its candidate and the active version can be
compared on alerts neither has learnt from. What happens to the candidate is the run's ``promote`` option:

* ``never``: kept as a candidate for the ML lead;
* ``always``: promoted (the ML lead asked for it);
* ``if_not_worse``: promoted when its held-out ROC AUC is not below the active version's by more than
  ``PROMOTE_MARGIN`` and it loses no more than its margin on any reference set that guards promotion
  (:func:`classifiers.reference_sets.promotion_guard`), else kept.

Candidate and active version are evaluated on the fixed held-out set once the training ends, and the figures are
stored (:func:`classifiers.reference_sets.evaluate_heldout`): the versions table, the compare page and the loop
page show those same figures, and the decision reads them. Every candidate is also scored on every named
reference set of its task; those figures ride on the ``evaluated`` event under ``metrics["reference_sets"]``.
The decision's reason states both figures and the margin, so a page never says "promoted" without saying why.

Decision, promotion and the run's final status are written in one transaction: a worker killed before it
leaves the active version as it was, and a run the reaper closed meanwhile promotes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from django.db import transaction
from django.utils import timezone

from classifiers import registry, training
from classifiers.architectures import BraaiHyperparameters, StreakHyperparameters
from classifiers.labelled import DEMO_TRUTH, LabelledSet, heldout_set, labelled_alerts
from classifiers.models import BRAAI_TASKS, ModelVersion, RegistryEvent, Task, TrainingRun
from classifiers.reference_sets import evaluate_heldout, evaluate_pair, promotion_guard
from core.conf import blink_setting

log = logging.getLogger(__name__)

HYPERPARAMETER_OPTIONS = ("epochs", "seed", "batch_size", "learning_rate", "patience")
# A fine-tune starts from weights that already separate the classes: a step this small adapts them to the new
# labels without first undoing what they learnt (a from-scratch rate would).
FINE_TUNING_LEARNING_RATE = {Task.REAL_BOGUS: 1e-4, Task.STREAKS: 5e-4, Task.RUBIN_REAL_BOGUS: 1e-4}
PROMOTE_POLICIES = ("never", "always", "if_not_worse")
HEADLINE = ("n", "n_positive", "roc_auc", "accuracy", "precision", "recall", "fpr", "fnr", "version")

Record = Callable[..., dict]


class RunSuperseded(RuntimeError):
    """The run was reaped (or otherwise closed) while this worker was still on it: its result is dropped."""


def labels_to_learn(task: str, campaign=None) -> LabelledSet:
    """What a run of ``task`` learns from: ``campaign``'s consensus labels (the demo truth without one), the
    fixed held-out objects left out. The request checks it before queueing; the run reads it again."""
    if campaign is not None:
        return labelled_alerts(task, campaign=campaign, split="train")
    return labelled_alerts(task, sources=(DEMO_TRUTH,), split="train")


def training_labels(run: TrainingRun) -> LabelledSet:
    return labels_to_learn(run.task, run.campaign if run.campaign_id is not None else None)


def hyperparameters(task: str, options: dict) -> BraaiHyperparameters | StreakHyperparameters:
    """The architecture's defaults, the run's options over them; a fine-tune (``from_version``) learns at
    ``FINE_TUNING_LEARNING_RATE`` unless the run names its own rate."""
    defaults = BraaiHyperparameters() if task in BRAAI_TASKS else StreakHyperparameters()
    if options.get("from_version") is not None:
        defaults = replace(defaults, learning_rate=FINE_TUNING_LEARNING_RATE[task])
    # Cast to the field's own type: jsonb hands a learning rate of 1e38 back as an integer.
    given = {k: type(getattr(defaults, k))(options[k]) for k in HYPERPARAMETER_OPTIONS if options.get(k) is not None}
    return replace(defaults, **given)


def evaluate_on_heldout(version: ModelVersion | None) -> dict | None:
    """Headline figures of ``version`` on the fixed held-out set (None without a version), fed its own input
    recipe (candidate and active version may shape their input differently), stored for every page."""
    if version is None:
        return None
    return {**evaluate_heldout(version), "version": version.version}


def compared(cand_auc: float, act_auc: float) -> str:
    """Both held-out figures as every page rounds them, and the gap between them."""
    gap = act_auc - cand_auc
    how = "higher" if gap < 0 else "equal" if gap == 0 else f"{gap:.3f} lower"
    return f"held-out ROC AUC {cand_auc:.3f} vs active {act_auc:.3f} ({how})"


def promotion_decision(candidate: dict | None, active: dict | None, *, margin: float) -> tuple[bool, str]:
    """Promote when the candidate's held-out ROC AUC is not below the active's by more than ``margin``; the
    reason gives both figures and the margin."""
    if active is None:
        return True, "no active version to compare with: the candidate becomes the first active model"
    cand_auc = (candidate or {}).get("roc_auc")
    act_auc = active.get("roc_auc")
    if cand_auc is None or act_auc is None:
        n = (candidate or {}).get("n", 0)
        return False, f"the held-out set ({n} alerts) cannot rank both classes: waiting for the ML lead"
    if cand_auc >= act_auc - margin:
        return True, f"{compared(cand_auc, act_auc)}: within the {margin:g} margin, promoted"
    return False, f"{compared(cand_auc, act_auc)}: more than the {margin:g} margin, kept as a candidate for the ML lead"


def decide(policy: str, candidate: dict | None, active: dict | None, *, margin: float) -> tuple[bool, str]:
    """The run's ``promote`` option applied to the held-out metrics of candidate and active version."""
    if policy == "if_not_worse":
        return promotion_decision(candidate, active, margin=margin)
    cand_auc, act_auc = (candidate or {}).get("roc_auc"), (active or {}).get("roc_auc")
    figures = f" ({compared(cand_auc, act_auc)})" if cand_auc is not None and act_auc is not None else ""
    if policy == "always":
        return True, f"the run was asked to promote its candidate{figures}"
    return False, f"this run does not promote: kept as a candidate for the ML lead{figures}"


def guarded(candidate: ModelVersion, active: ModelVersion | None, reason: str) -> tuple[bool, str]:
    """An auto-promotion the held-out set allows must also pass every reference set that guards promotion."""
    ok, why = promotion_guard(candidate, active)
    if ok:
        return True, f"{reason}; {why}"
    heldout = reason.removesuffix(", promoted")
    return False, f"{heldout}, but it {why}: kept as a candidate for the ML lead"


def _training_listener(record: Record) -> Callable[[dict], None]:
    """classifiers.training's progress (loading, start, epoch, early_stop, evaluated) as running steps."""

    def listen(event: dict) -> None:
        event = dict(event)
        step = event.pop("event", "progress")
        if step == "registered":
            return  # the run records its own ``registered`` phase once train() has returned the version
        record("running", step="tested" if step == "evaluated" else step, **event)
        if step == "epoch":
            # The worker's log is where an operator watches a training: one line per epoch.
            log.info(
                "%s epoch %s/%s: loss %s, val_loss %s",
                event.get("member"),
                event.get("epoch"),
                event.get("epochs"),
                event.get("loss"),
                event.get("val_loss"),
            )

    return listen


def _comparison(metrics: dict, margin: float) -> dict:
    """The held-out figures the decision weighed, and the margin, for pages that draw the decision."""
    candidate = (metrics["candidate"] or {}).get("roc_auc")
    active = (metrics["active"] or {}).get("roc_auc") if metrics["active"] else None
    return {"candidate_roc_auc": candidate, "active_roc_auc": active, "margin": margin}


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
    metrics = {"candidate": evaluate_on_heldout(version), "active": evaluate_on_heldout(active)}
    headlines = {k: _headline(v) for k, v in metrics.items()}
    # Every candidate (and an active version not yet scored on a set's current content) on every reference set.
    reference = evaluate_pair(version, active)
    policy = options.get("promote", "never")
    # The loop page says the margin beside the figures even when this run promotes by hand or not at all.
    margin = blink_setting("PROMOTE_MARGIN")
    record(
        "evaluated",
        version_id=version.pk,
        metrics={**headlines, "reference_sets": reference},
        heldout=heldout.describe(),
        candidate_version=version.version,
        active_version=active.version if active else None,
        margin=margin,
    )
    promote, reason = decide(policy, metrics["candidate"], metrics["active"], margin=margin)
    comparison = _comparison(metrics, margin)
    if promote and policy == "if_not_worse":
        promote, reason = guarded(version, active, reason)
    _conclude(run, version, active, promote=promote, reason=reason, metrics={**heldout.describe(), **headlines})
    record(
        "promoted" if promote else "kept",
        heartbeat=False,
        version_id=version.pk,
        version=version.version,
        label=version.label,
        reason=reason,
        policy=policy,
        heldout=comparison,
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
