"""The loop's retraining: a fine-tuning of the active version, held out, evaluated, decided."""

from __future__ import annotations

from django.conf import settings
from django.test import override_settings

from activelearning.policy import request_retraining
from classifiers.labelled import heldout_set
from classifiers.models import ModelVersion, RegistryEvent, TrainingRun
from classifiers.runs.worker import execute_run

FAST = {"epochs": 2, "batch_size": 16}


def blink(**overrides):
    return override_settings(BLINK={**settings.BLINK, **overrides})


def phases(run):
    """The run's phases in order, each once however many events it recorded."""
    run.refresh_from_db()
    seen = [e["phase"] for e in run.progress]
    return [p for i, p in enumerate(seen) if i == 0 or seen[i - 1] != p]


def test_a_retraining_fine_tunes_the_active_version_evaluates_on_the_heldout_set_and_promotes(
    labelled_campaign, active_braai, mllead
):
    run, created = request_retraining(task="real_bogus", campaign=labelled_campaign, user=mllead, options=FAST)
    assert created
    assert run.status == TrainingRun.Status.QUEUED
    assert run.task_result_id
    with blink(PROMOTE_MARGIN=1.0):
        outcome = execute_run(run.pk)
    run.refresh_from_db()
    assert outcome["promoted"] is True
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert run.attempts == 1
    version = run.version
    assert version.status == ModelVersion.Status.ACTIVE
    assert version.parent_id == active_braai.pk
    assert version.training_set["fine_tuned_from"]["id"] == active_braai.pk
    active_braai.refresh_from_db()
    assert active_braai.status == ModelVersion.Status.RETIRED
    assert RegistryEvent.objects.filter(version=version, action=RegistryEvent.Action.AUTO_PROMOTE).exists()
    assert phases(run) == ["queued", "running", "registered", "evaluated", "promoted"]
    # The fixed held-out objects never enter the training set, and the evaluation is on them.
    labels = next(e for e in run.progress if e.get("step") == "labels")
    heldout = heldout_set("real_bogus")
    assert 0 < heldout.y.sum() < len(heldout.y)
    assert labels["heldout_excluded"] > 0
    assert not set(heldout.alert_ids) & set(version.training_set.get("test_alert_ids", []))
    assert version.metrics["heldout"]["n"] == len(heldout.alert_ids)
    evaluated = next(e for e in run.progress if e["phase"] == "evaluated")
    assert evaluated["active_version"] == active_braai.version
    assert evaluated["metrics"]["candidate"]["n"] == len(heldout.alert_ids)


def test_a_candidate_worse_than_the_margin_is_kept_for_the_ml_lead(labelled_campaign, active_braai, mllead):
    run, _ = request_retraining(task="real_bogus", campaign=labelled_campaign, user=mllead, options=FAST)
    # A negative margin asks the candidate to beat the active version by more than a whole unit of AUC.
    with blink(PROMOTE_MARGIN=-1.0):
        outcome = execute_run(run.pk)
    run.refresh_from_db()
    assert outcome["promoted"] is False
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert run.version.status == ModelVersion.Status.CANDIDATE
    active_braai.refresh_from_db()
    assert active_braai.status == ModelVersion.Status.ACTIVE
    assert RegistryEvent.objects.filter(version=run.version, action=RegistryEvent.Action.REJECT).exists()
    kept = next(e for e in run.progress if e["phase"] == "kept")
    assert "kept as a candidate" in kept["reason"]


def test_a_diverging_retraining_is_stopped_and_never_registered(labelled_campaign, active_braai, mllead):
    n_versions = ModelVersion.objects.count()
    run, _ = request_retraining(
        task="real_bogus", campaign=labelled_campaign, user=mllead, options={**FAST, "learning_rate": 1e38}
    )
    outcome = execute_run(run.pk)
    run.refresh_from_db()
    assert outcome["status"] == "diverged"
    assert run.status == TrainingRun.Status.DIVERGED
    assert "diverged" in run.error
    assert ModelVersion.objects.count() == n_versions
    active_braai.refresh_from_db()
    assert active_braai.status == ModelVersion.Status.ACTIVE
    assert phases(run)[-1] == "diverged"
