"""Fine-tuning: a training run can start from any version's weights, optionally with its convolutions frozen,
at the fine-tuning learning rate; the new version records its parent and inherits its input recipe."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from classifiers.architectures import BraaiHyperparameters
from classifiers.labelled import DEMO_TRUTH, labelled_alerts
from classifiers.models import ModelVersion, TrainingRun
from classifiers.preprocessing import D6_M7_RECIPE, DEFAULT_RECIPE
from classifiers.registry import load_model, recipe_of
from classifiers.runs.requests import DEMO_LABELS, RunRefused, request_run
from classifiers.runs.steps import FINE_TUNING_LEARNING_RATE, hyperparameters
from classifiers.training import train
from tests.conftest import labels_to_train_on, register_untrained_braai

CONVOLUTIONS = ("conv1", "conv2", "conv3", "conv4")
# One epoch in a fixed order (no augmentation), so two trainings on the same data differ only by their start.
ONE_EPOCH = BraaiHyperparameters(epochs=1, patience=1, batch_size=16, augment=False, seed=5)


def first_epoch_loss(**train_options) -> tuple[ModelVersion, float]:
    events: list[dict] = []
    version = train(
        task="real_bogus",
        labelled=labelled_alerts("real_bogus", sources=(DEMO_TRUTH,)),
        hp=ONE_EPOCH,
        progress=events.append,
        **train_options,
    )
    return version, next(e["loss"] for e in events if e["event"] == "epoch")


def layer_weights(version: ModelVersion, name: str) -> list[np.ndarray]:
    return load_model(version).get_layer(name).get_weights()


@pytest.fixture
def trained_parent(demo_alerts):
    """A braai version that has learnt the demo truth (a short training from scratch)."""
    hp = BraaiHyperparameters(epochs=12, patience=12, batch_size=16, learning_rate=1e-3, augment=False, seed=2)
    return train(task="real_bogus", labelled=labelled_alerts("real_bogus", sources=(DEMO_TRUTH,)), hp=hp)


def test_a_fine_tune_starts_from_its_parents_weights_so_its_first_epoch_loss_is_below_a_fresh_models(trained_parent):
    child, fine_tuned_loss = first_epoch_loss(from_version=trained_parent)
    fresh, fresh_loss = first_epoch_loss()

    assert fine_tuned_loss < fresh_loss, (fine_tuned_loss, fresh_loss)
    assert child.parent_id == trained_parent.pk
    assert child.training_set["fine_tuned_from"] == {
        "id": trained_parent.pk,
        "label": trained_parent.label,
        "freeze_conv": False,
    }
    # A model trained from random weights descends from no version.
    assert fresh.parent_id is None
    assert fresh.training_set["fine_tuned_from"] is None


def test_a_fine_tune_inherits_its_parents_input_recipe(demo_alerts):
    parent = register_untrained_braai(seed=1)
    ModelVersion.objects.filter(pk=parent.pk).update(
        hyperparameters={**parent.hyperparameters, "input_recipe": D6_M7_RECIPE.to_dict()}
    )
    parent.refresh_from_db()

    child, _ = first_epoch_loss(from_version=parent)
    fresh, _ = first_epoch_loss()

    assert recipe_of(child) == D6_M7_RECIPE
    assert recipe_of(fresh) == DEFAULT_RECIPE


def test_frozen_convolutions_keep_their_weights_while_the_dense_layers_learn(demo_alerts):
    parent = register_untrained_braai(seed=4)
    child, _ = first_epoch_loss(from_version=parent, freeze_conv=True)

    for name in CONVOLUTIONS:
        for before, after in zip(layer_weights(parent, name), layer_weights(child, name), strict=True):
            np.testing.assert_array_equal(before, after, err_msg=f"{name} changed although frozen")
    assert not np.array_equal(layer_weights(parent, "dense1")[0], layer_weights(child, "dense1")[0])
    assert child.training_set["fine_tuned_from"]["freeze_conv"] is True
    # The stored model carries no frozen flag: a later fine-tune of it may train every layer.
    assert all(load_model(child).get_layer(name).trainable for name in CONVOLUTIONS)


def test_a_fine_tune_learns_at_the_fine_tuning_rate_unless_the_run_names_its_own():
    assert hyperparameters("real_bogus", {}).learning_rate == BraaiHyperparameters().learning_rate
    assert hyperparameters("real_bogus", {"from_version": 1}).learning_rate == FINE_TUNING_LEARNING_RATE["real_bogus"]
    assert FINE_TUNING_LEARNING_RATE["real_bogus"] < BraaiHyperparameters().learning_rate
    assert hyperparameters("real_bogus", {"from_version": 1, "learning_rate": 5e-5}).learning_rate == 5e-5


def test_train_model_from_version_fine_tunes_that_version(demo_alerts, capsys):
    parent = register_untrained_braai(seed=6)
    call_command(
        "train_model", "--task", "real_bogus", "--from-version", str(parent.pk), "--freeze-conv", "--epochs", "1"
    )
    child = ModelVersion.objects.exclude(pk=parent.pk).get()
    assert child.parent_id == parent.pk
    assert child.hyperparameters["learning_rate"] == FINE_TUNING_LEARNING_RATE["real_bogus"]
    assert child.training_set["fine_tuned_from"]["freeze_conv"] is True
    assert f"fine-tuned from {parent.label} (convolutions frozen)" in capsys.readouterr().out
    assert TrainingRun.objects.get().options["from_version"] == parent.pk


def test_a_run_from_an_unknown_version_or_another_tasks_is_refused_naming_the_field(db):
    streaks = register_untrained_braai(task="streaks")
    with pytest.raises(RunRefused, match="no model version 999999") as unknown:
        request_run(task="real_bogus", options={"from_version": 999999}, enqueue=False)
    with pytest.raises(RunRefused, match="a real_bogus run cannot start from it") as other_task:
        request_run(task="real_bogus", options={"from_version": streaks.pk}, enqueue=False)
    with pytest.raises(RunRefused, match="needs a version to start from") as nothing_to_freeze:
        request_run(task="real_bogus", options={"freeze_conv": True}, enqueue=False)
    assert (unknown.value.field, other_task.value.field) == ("from_version", "from_version")
    assert nothing_to_freeze.value.field == "freeze_conv"
    with pytest.raises(CommandError, match="--from-version: no model version 999999"):
        call_command("train_model", "--task", "real_bogus", "--from-version", "999999")
    assert not TrainingRun.objects.exists()


def test_the_apis_refuse_a_bad_from_version_naming_the_field(api_for, mllead, live_campaign):
    streaks = register_untrained_braai(task="streaks")
    client = api_for(mllead)
    train = client.post("/api/models/train/", {"task": "real_bogus", "from_version": 999999}, format="json")
    assert (train.status_code, train.json()["field"]) == (400, "from_version")
    retrain = {"task": "real_bogus", "campaign": live_campaign.slug, "from_version": streaks.pk}
    loop = client.post(reverse("api-loop-retrain"), retrain, format="json")
    assert (loop.status_code, loop.json()["field"]) == (400, "from_version")
    assert "streaks" in loop.json()["detail"]
    assert not TrainingRun.objects.exists()


def test_the_loop_fine_tunes_the_active_version_unless_told_which(api_for, mllead, live_campaign):
    from activelearning.policy import request_retraining

    active = register_untrained_braai(seed=0, promote=True)
    other = register_untrained_braai(seed=1)
    labels_to_train_on(live_campaign)
    run, _ = request_retraining(task="real_bogus", campaign=live_campaign, options={"epochs": 1})
    assert run.options["from_version"] == active.pk
    TrainingRun.objects.all().delete()

    payload = {"task": "real_bogus", "campaign": live_campaign.slug, "from_version": other.pk, "freeze_conv": True}
    response = api_for(mllead).post(reverse("api-loop-retrain"), payload, format="json")
    assert response.status_code == 202, response.json()
    options = TrainingRun.objects.get().options
    assert (options["from_version"], options["freeze_conv"]) == (other.pk, True)


def test_the_console_queues_a_fine_tune_of_the_chosen_version(client_for, mllead, demo_alerts):
    version = register_untrained_braai(seed=2, promote=True)
    client = client_for(mllead)
    page = client.get(reverse("console-versions")).content.decode()
    assert f"Fine-tune from {version.label}" in page

    url = reverse("console-fine-tune", args=[version.pk])
    refused = client.post(url, {"labels": "no-such-campaign", "epochs": "2"}, follow=True)
    assert "No fine-tune of" in refused.content.decode()
    assert not TrainingRun.objects.exists()

    response = client.post(url, {"labels": DEMO_LABELS, "epochs": "2", "freeze_conv": "on"})
    assert response.status_code == 302
    assert response["Location"] == reverse("ml-loop")
    run = TrainingRun.objects.get()
    assert (run.trigger, run.triggered_by, run.campaign) == ("console", mllead, None)
    assert run.options == {"epochs": 2, "from_version": version.pk, "freeze_conv": True, "promote": "never"}
