"""A retraining with nothing (or too little) to train on is refused before it is queued, in the one refusal shape,
saying why: on the loop's API (what its Retrain button calls), on the console's fine-tune form, by ``train_model``,
and quietly by the automatic trigger."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from activelearning.policy import count_new_label
from classifiers.models import TrainingRun
from classifiers.runs.requests import NothingToTrainOn, request_run
from labeling.models import Campaign, Subject
from tests.conftest import labels_to_train_on, register_untrained_braai


def _retrain(client, campaign):
    return client.post(reverse("api-loop-retrain"), {"task": "real_bogus", "campaign": campaign.slug}, format="json")


def test_the_loop_refuses_a_campaign_without_labels_before_queueing_and_says_why(api_for, mllead, live_campaign):
    response = _retrain(api_for(mllead), live_campaign)
    body = response.json()
    assert response.status_code == 400, body
    assert (body["code"], body["field"]) == ("not_enough_labels", "campaign")
    assert body["detail"].startswith("nothing to train on: campaign 'demo-real-bogus' has no label yet")
    assert "retires, after 3 votes" in body["detail"]  # how labels come, in this campaign's own rule
    assert not TrainingRun.objects.exists()


def test_one_class_alone_is_too_little_to_train_on(api_for, mllead, live_campaign):
    Subject.objects.filter(campaign=live_campaign).update(retired=True, majority_label="bogus", majority_fraction=1)
    response = _retrain(api_for(mllead), live_campaign)
    body = response.json()
    assert (response.status_code, body["code"], body["field"]) == (400, "not_enough_labels", "campaign")
    assert body["detail"].startswith("too few labels to train on: campaign 'demo-real-bogus' has ")
    assert ", 0 real and " in body["detail"]
    assert "at least 3 of each" in body["detail"]
    assert not TrainingRun.objects.exists()


def test_enough_labels_of_each_class_are_queued(api_for, mllead, live_campaign):
    labels_to_train_on(live_campaign)
    response = _retrain(api_for(mllead), live_campaign)
    assert response.status_code == 202, response.json()
    assert TrainingRun.objects.get().campaign == live_campaign


def test_train_model_and_the_console_say_why_nothing_was_trained(client_for, mllead, live_campaign):
    with pytest.raises(CommandError, match="--campaign: nothing to train on: campaign 'demo-real-bogus'"):
        call_command("train_model", "--task", "real_bogus", "--campaign", live_campaign.slug)
    version = register_untrained_braai(seed=4, promote=True)
    url = reverse("console-fine-tune", args=[version.pk])
    page = client_for(mllead).post(url, {"labels": live_campaign.slug, "epochs": "1"}, follow=True)
    assert f"No fine-tune of {version.label} was queued: nothing to train on" in page.content.decode()
    assert not TrainingRun.objects.exists()


def test_a_request_without_any_labelled_alert_is_refused(db):
    with pytest.raises(NothingToTrainOn, match="the demo alerts' known truth has no label yet"):
        request_run(task="streaks", enqueue=False)
    assert not TrainingRun.objects.exists()


def test_the_automatic_trigger_waits_quietly_for_labels(live_campaign):
    Campaign.objects.filter(pk=live_campaign.pk).update(retrain_every=1)
    assert count_new_label(live_campaign) is None
    assert not TrainingRun.objects.exists()
