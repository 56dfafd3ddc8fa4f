"""The management commands an ML lead types: train_model and train_starter_model."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from classifiers.models import ModelVersion, RegistryEvent, Score, TrainingRun


def test_train_model_trains_registers_and_promotes_on_demo_truth(demo_alerts, capsys):
    call_command("train_model", "--task", "real_bogus", "--epochs", "2", "--promote", "--seed", "3")
    version = ModelVersion.objects.get()
    assert (version.task, version.version, version.status) == ("real_bogus", 1, "active")
    assert version.hyperparameters["epochs"] == 2
    assert version.hyperparameters["seed"] == 3
    assert version.training_set["source"] == "demo_truth"
    assert version.training_set["n_labels"] == 60
    run = TrainingRun.objects.get()
    assert (run.status, run.trigger, run.version) == ("succeeded", "command", version)
    assert RegistryEvent.objects.filter(action="promote", version=version).exists()
    out = capsys.readouterr().out
    assert "Registered real_bogus v1 (active)" in out
    assert "held-out test: accuracy" in out


def test_train_model_names_a_missing_campaign(db):
    with pytest.raises(CommandError, match="--campaign: no campaign with slug 'nope'"):
        call_command("train_model", "--task", "real_bogus", "--campaign", "nope")


def test_train_model_on_a_campaign_without_enough_labels_says_so(live_campaign):
    with pytest.raises(CommandError, match="training failed: no labelled alerts"):
        call_command("train_model", "--task", "real_bogus", "--campaign", live_campaign.slug)
    assert TrainingRun.objects.get().status == "failed"
    assert not ModelVersion.objects.exists()


@pytest.mark.slow
def test_starter_model_is_trained_promoted_and_scores_everything(demo_alerts, capsys):
    call_command("train_starter_model")
    version = ModelVersion.objects.get(status="active")
    assert version.training_set["source"] == "demo_truth"
    assert Score.objects.filter(version=version).count() == 60
    assert "is active: held-out accuracy" in capsys.readouterr().out
    call_command("train_starter_model")  # a second run changes nothing
    assert ModelVersion.objects.count() == 1
