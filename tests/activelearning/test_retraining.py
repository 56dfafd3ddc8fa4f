"""Retraining: warm start, held-out evaluation, the promotion policy, divergence and failures."""

from __future__ import annotations

from django.conf import settings
from django.test import override_settings

from activelearning import retraining
from classifiers.models import ModelVersion, RegistryEvent, TrainingRun

FAST = {"epochs": 2, "batch_size": 16}


def blink(**overrides):
    return override_settings(BLINK={**settings.BLINK, **overrides})


def kinds(run):
    run.refresh_from_db()
    return [e["event"] for e in run.progress]


def test_a_retraining_warm_starts_evaluates_on_the_heldout_set_and_promotes(labelled_campaign, active_braai, mllead):
    run, created = retraining.trigger_retraining(
        task="real_bogus", campaign=labelled_campaign, user=mllead, options=FAST
    )
    assert created
    assert run.status == TrainingRun.Status.QUEUED
    assert run.task_result_id
    with blink(PROMOTE_MARGIN=1.0):
        outcome = retraining.execute_run(run.pk)
    run.refresh_from_db()
    assert outcome["promoted"] is True
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert run.attempts == 1
    version = run.version
    assert version.status == ModelVersion.Status.ACTIVE
    assert version.parent_id == active_braai.pk
    assert version.training_set["warm_start"] is True
    active_braai.refresh_from_db()
    assert active_braai.status == ModelVersion.Status.RETIRED
    assert RegistryEvent.objects.filter(version=version, action=RegistryEvent.Action.AUTO_PROMOTE).exists()
    seen = kinds(run)
    for kind in ("queued", "started", "labels", "epoch", "registered", "evaluation", "decision"):
        assert kind in seen, kind
    # The fixed held-out objects never enter the training set, and the evaluation is on them.
    labels_event = next(e for e in run.progress if e["event"] == "labels")
    heldout = retraining.heldout_set("real_bogus")
    assert 0 < heldout.y.sum() < len(heldout.y)
    assert labels_event["heldout_excluded"] > 0
    assert not set(heldout.alert_ids) & set(version.training_set.get("test_alert_ids", []))
    assert version.metrics["heldout"]["n"] == len(heldout.alert_ids)
    evaluation = next(e for e in run.progress if e["event"] == "evaluation")
    assert evaluation["active_version"] == active_braai.version
    assert evaluation["candidate"]["n"] == len(heldout.alert_ids)


def test_a_candidate_worse_than_the_margin_waits_for_the_ml_lead(labelled_campaign, active_braai, mllead):
    run, _ = retraining.trigger_retraining(task="real_bogus", campaign=labelled_campaign, user=mllead, options=FAST)
    # A negative margin asks the candidate to beat the active version by more than a whole unit of AUC.
    with blink(PROMOTE_MARGIN=-1.0):
        outcome = retraining.execute_run(run.pk)
    run.refresh_from_db()
    assert outcome["promoted"] is False
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert run.version.status == ModelVersion.Status.CANDIDATE
    active_braai.refresh_from_db()
    assert active_braai.status == ModelVersion.Status.ACTIVE
    assert RegistryEvent.objects.filter(version=run.version, action=RegistryEvent.Action.REJECT).exists()
    decision = next(e for e in run.progress if e["event"] == "decision")
    assert "waiting" in decision["reason"] or "kept as a candidate" in decision["reason"]


def test_a_diverging_training_is_stopped_and_never_registered(labelled_campaign, active_braai, mllead):
    n_versions = ModelVersion.objects.count()
    run, _ = retraining.trigger_retraining(
        task="real_bogus", campaign=labelled_campaign, user=mllead, options={**FAST, "learning_rate": 1e38}
    )
    outcome = retraining.execute_run(run.pk)
    run.refresh_from_db()
    assert outcome["status"] == "diverged"
    assert run.status == TrainingRun.Status.DIVERGED
    assert "diverged" in run.error
    assert ModelVersion.objects.count() == n_versions
    active_braai.refresh_from_db()
    assert active_braai.status == ModelVersion.Status.ACTIVE
    assert "diverged" in kinds(run)


def test_the_policy_promotes_within_the_margin_and_not_beyond():
    assert retraining.promotion_decision({"roc_auc": 0.90}, {"roc_auc": 0.905}, margin=0.01)[0] is True
    assert retraining.promotion_decision({"roc_auc": 0.88}, {"roc_auc": 0.90}, margin=0.01)[0] is False
    assert retraining.promotion_decision({"roc_auc": 0.5}, None, margin=0.01)[0] is True
    promote, reason = retraining.promotion_decision({"roc_auc": None, "n": 3}, {"roc_auc": 0.9}, margin=0.01)
    assert promote is False
    assert "ML lead" in reason


def test_the_heldout_set_is_fixed_by_object_id_alone():
    buckets = [retraining.heldout_bucket(f"ZTF21aaa{i:04d}") for i in range(5000)]
    share = sum(b < 0.2 for b in buckets) / len(buckets)
    assert 0.18 < share < 0.22
    assert retraining.heldout_bucket("ZTF21aaa0001") == retraining.heldout_bucket("ZTF21aaa0001")
