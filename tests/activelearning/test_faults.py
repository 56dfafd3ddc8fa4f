"""Faults of the loop's runs: two triggers at once, a worker killed mid-training, a training that raises, and
automatic triggers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django_tasks_db.models import DBTaskResult

from activelearning.policy import request_retraining
from classifiers.models import ModelVersion, TrainingRun
from classifiers.runs.worker import execute_run, reap_stale_runs, train_run
from labeling.models import REAL_BOGUS_CLASSES, Campaign
from labeling.votes import vote_record
from tests.conftest import labels_to_train_on

ROOT = Path(settings.BASE_DIR)


@pytest.mark.django_db(transaction=True)
def test_two_triggers_at_once_make_one_training(scientist, mllead, admin_user):
    campaign = Campaign.objects.create(
        name="Race", slug="race", owner=scientist, classes=REAL_BOGUS_CLASSES, state=Campaign.State.LIVE
    )
    labels_to_train_on(campaign)
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def trigger(user):
        try:
            barrier.wait(timeout=10)
            outcomes.append(request_retraining(task="real_bogus", campaign=campaign, user=user))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=trigger, args=(u,)) for u in (mllead, admin_user)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert sorted(created for _, created in outcomes) == [False, True]
    assert outcomes[0][0].pk == outcomes[1][0].pk
    assert TrainingRun.objects.count() == 1
    assert DBTaskResult.objects.filter(task_path=train_run.module_path).count() == 1


def test_a_trigger_while_a_run_is_in_flight_returns_that_run(labelled_campaign, mllead):
    first, created = request_retraining(task="real_bogus", campaign=labelled_campaign, user=mllead)
    again, created_again = request_retraining(task="real_bogus", campaign=labelled_campaign, user=mllead)
    assert created
    assert not created_again
    assert again.pk == first.pk


def test_a_training_that_raises_fails_keeps_the_active_version_and_is_retried_once(
    labelled_campaign, active_braai, mllead, monkeypatch
):
    from classifiers import training

    calls = []

    def broken_train(**kwargs):
        calls.append(1)
        kwargs["progress"]({"event": "epoch", "epoch": 1, "epochs": 3, "loss": 0.69, "member": "braai"})
        raise OSError("disk full while saving the model")

    monkeypatch.setattr(training, "train", broken_train)
    run, _ = request_retraining(task="real_bogus", campaign=labelled_campaign, user=mllead)
    outcome = execute_run(run.pk)
    run.refresh_from_db()
    assert outcome["status"] == "failed"
    assert run.status == TrainingRun.Status.FAILED
    assert "disk full" in run.error
    active_braai.refresh_from_db()
    assert active_braai.status == ModelVersion.Status.ACTIVE
    assert ModelVersion.objects.count() == 1

    retry = TrainingRun.objects.get(trigger="retry")
    assert retry.status == TrainingRun.Status.QUEUED
    assert retry.options["retry_of"] == run.pk
    assert [e["phase"] for e in run.progress][-2:] == ["failed", "retried"]
    # The retry fails the same way: that was the second attempt, so no third run is queued.
    execute_run(retry.pk)
    retry.refresh_from_db()
    assert retry.status == TrainingRun.Status.FAILED
    assert retry.attempts == 2
    assert [e["phase"] for e in retry.progress][-2:] == ["failed", "given_up"]
    assert TrainingRun.objects.count() == 2
    assert len(calls) == 2


def _worker(db_name: str) -> subprocess.Popen:
    env = dict(os.environ)
    base = settings.DATABASES["default"]
    env["DATABASE_URL"] = f"postgres://{base['USER']}@{base['HOST']}:{base['PORT']}/{db_name}"
    env["BLINK_TF_THREADS"] = "1"
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--queue-name",
            "*",
            "--no-reload",
            "--no-startup-delay",
            "--interval",
            "0.2",
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_training_leaves_the_active_version_and_the_run_is_retried(
    labelled_campaign, active_braai, mllead
):
    if connection.vendor != "postgresql":
        pytest.skip("the worker subprocess needs the PostgreSQL test database")
    run, _ = request_retraining(
        task="real_bogus",
        campaign=labelled_campaign,
        user=mllead,
        options={"epochs": 40, "patience": 40, "batch_size": 4},
    )
    worker = _worker(connection.settings_dict["NAME"])
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if any(e.get("step") == "epoch" for e in run.progress):
                break
            assert worker.poll() is None, "the worker exited before training"
            time.sleep(0.05)
        else:
            pytest.fail("the worker never reached the first epoch")
        os.kill(worker.pid, signal.SIGKILL)  # kill -9: no cleanup of any kind
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.RUNNING  # nobody closed it...
    active_braai.refresh_from_db()
    assert active_braai.status == ModelVersion.Status.ACTIVE  # ...and the active version is untouched
    assert ModelVersion.objects.count() == 1

    reaped = reap_stale_runs(stale_after=0)
    assert [r.pk for r in reaped] == [run.pk]
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert "no heartbeat" in run.error
    retry = TrainingRun.objects.get(options__retry_of=run.pk)
    assert retry.status == TrainingRun.Status.QUEUED
    assert retry.attempts == 1

    # The retry runs to the end (shortened here to keep the suite fast).
    TrainingRun.objects.filter(pk=retry.pk).update(options={**retry.options, "epochs": 1})
    outcome = execute_run(retry.pk)
    retry.refresh_from_db()
    assert retry.status == TrainingRun.Status.SUCCEEDED, outcome
    assert retry.attempts == 2
    assert retry.version is not None
    # A reaped run is never retried twice.
    assert reap_stale_runs(stale_after=0) == []


def test_retirements_count_towards_automatic_retraining_only_when_it_is_on(
    live_campaign, django_user_model, django_capture_on_commit_callbacks
):
    voters = [django_user_model.objects.create_user(username=f"v{i}", password="x-long-pass") for i in range(3)]
    subjects = list(live_campaign.subjects.order_by("pk")[:4])
    labels_to_train_on(live_campaign)  # labels of both classes already: the count alone decides

    def retire(subject):
        for voter in voters:
            with django_capture_on_commit_callbacks(execute=True):
                vote_record(
                    campaign=live_campaign,
                    subject_id=subject.pk,
                    volunteer=voter,
                    answer="real",
                    idempotency_key=uuid.uuid4(),
                )

    retire(subjects[0])
    live_campaign.refresh_from_db()
    assert live_campaign.labels_since_training == 1
    assert not TrainingRun.objects.exists()  # retrain_every is empty: off by default

    live_campaign.retrain_every = 2
    live_campaign.save()
    retire(subjects[1])
    run = TrainingRun.objects.get()
    assert run.trigger == "auto"
    assert run.campaign_id == live_campaign.pk
    assert run.status == TrainingRun.Status.QUEUED
    retire(subjects[2])
    assert TrainingRun.objects.count() == 1  # one in flight already
