"""The management commands an ML lead types: train_model and reap_training_runs."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from classifiers.labelled import labelled_alerts
from classifiers.models import ModelVersion, RegistryEvent, TrainingRun


def test_train_model_trains_on_demo_truth_without_the_heldout_objects_and_promotes(demo_alerts, capsys):
    call_command("train_model", "--task", "real_bogus", "--epochs", "2", "--promote", "--seed", "3")
    version = ModelVersion.objects.get()
    assert (version.task, version.version, version.status) == ("real_bogus", 1, "active")
    assert version.hyperparameters["epochs"] == 2
    assert version.hyperparameters["seed"] == 3
    assert version.training_set["source"] == "demo_truth"
    training = labelled_alerts("real_bogus", sources=("demo_truth",), split="train")
    assert training.heldout_excluded > 0
    assert version.training_set["n_labels"] == len(training) == 60 - training.heldout_excluded
    run = TrainingRun.objects.get()
    assert (run.status, run.trigger, run.version) == ("succeeded", "command", version)
    assert [e["phase"] for e in run.progress][-3:] == ["registered", "evaluated", "promoted"]
    assert RegistryEvent.objects.filter(action="promote", version=version).exists()
    out = capsys.readouterr().out
    assert "Registered real_bogus v1 (active)" in out
    assert "held-out test: accuracy" in out


def test_train_model_names_a_missing_campaign(db):
    with pytest.raises(CommandError, match="--campaign: no campaign with slug 'nope'"):
        call_command("train_model", "--task", "real_bogus", "--campaign", "nope")


def test_train_model_on_a_campaign_without_enough_labels_says_so(live_campaign):
    with pytest.raises(CommandError, match="--campaign: nothing to train on: campaign 'demo-real-bogus'"):
        call_command("train_model", "--task", "real_bogus", "--campaign", live_campaign.slug)
    assert not TrainingRun.objects.exists()  # refused before it was queued
    assert not ModelVersion.objects.exists()


def test_reap_training_runs_fails_a_silent_run_and_queues_its_retry(live_campaign, capsys):
    run = TrainingRun.objects.create(
        task="real_bogus",
        campaign=live_campaign,
        status=TrainingRun.Status.RUNNING,
        attempts=1,
        heartbeat_at=timezone.now() - timezone.timedelta(hours=1),
    )
    call_command("reap_training_runs")
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert "1 stale run(s) reaped" in capsys.readouterr().out
    assert TrainingRun.objects.get(trigger="retry").status == TrainingRun.Status.QUEUED


def test_a_live_run_is_left_alone(live_campaign):
    run = TrainingRun.objects.create(
        task="real_bogus", campaign=live_campaign, status=TrainingRun.Status.RUNNING, heartbeat_at=timezone.now()
    )
    call_command("reap_training_runs")
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.RUNNING
