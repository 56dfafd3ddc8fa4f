"""The life of a training run: one in-flight rule, one event format, one promotion rule, one retry rule."""

from __future__ import annotations

import pytest
from django.utils import timezone

from classifiers.models import ModelVersion, RegistryEvent, TrainingRun
from classifiers.runs import events
from classifiers.runs.requests import request_run
from classifiers.runs.steps import promotion_decision
from classifiers.runs.worker import execute_run, reap_stale_runs
from classifiers.signals import run_event
from tests.conftest import labels_to_train_on


@pytest.fixture
def sent():
    """The events sent as ``run_event`` while the test runs."""
    seen = []

    def listen(sender, *, run, event, **kwargs):
        seen.append((run.pk, event))

    run_event.connect(listen)
    yield seen
    run_event.disconnect(listen)


def test_every_event_is_recorded_on_the_run_and_sent_in_one_format(db, sent):
    labels_to_train_on()
    run, created = request_run(task="real_bogus", trigger="api", options={"epochs": 3}, enqueue=False)
    assert created
    events.record(run, "running", step="epoch", epoch=1, epochs=3, loss=0.5, val_loss=float("nan"))
    run.refresh_from_db()
    assert [event for _, event in sent] == run.progress
    assert {pk for pk, _ in sent} == {run.pk}
    queued, epoch = run.progress
    assert {k: queued[k] for k in ("run", "phase", "trigger")} == {"run": run.pk, "phase": "queued", "trigger": "api"}
    assert {k: epoch[k] for k in ("run", "phase", "step", "epoch", "epochs", "loss", "val_loss")} == {
        "run": run.pk, "phase": "running", "step": "epoch", "epoch": 1, "epochs": 3, "loss": 0.5, "val_loss": None,
    }  # fmt: skip
    assert all(event["at"] for event in run.progress)


def test_a_second_request_while_a_run_is_in_flight_gets_that_run(db):
    labels_to_train_on()
    first, created = request_run(task="real_bogus", trigger="api")
    again, created_again = request_run(task="real_bogus", trigger="command")
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    other_task, created_other = request_run(task="streaks", trigger="api")
    assert created_other  # one run in flight per task
    assert other_task.pk != first.pk


@pytest.mark.parametrize(
    ("options", "message"),
    [({"colour": "red"}, "unknown training option"), ({"promote": True}, "promote must be one of")],
)
def test_a_request_names_a_bad_option(db, options, message):
    with pytest.raises(ValueError, match=message):
        request_run(task="real_bogus", options=options)
    assert not TrainingRun.objects.exists()


def test_the_margin_rule_promotes_within_the_margin_and_not_beyond():
    assert promotion_decision({"roc_auc": 0.90}, {"roc_auc": 0.905}, margin=0.01)[0] is True
    assert promotion_decision({"roc_auc": 0.88}, {"roc_auc": 0.90}, margin=0.01)[0] is False
    assert promotion_decision({"roc_auc": 0.5}, None, margin=0.01)[0] is True
    promote, reason = promotion_decision({"roc_auc": None, "n": 3}, {"roc_auc": 0.9}, margin=0.01)
    assert promote is False
    assert "ML lead" in reason


def test_a_run_that_does_not_promote_keeps_its_candidate_and_says_why(demo_alerts):
    run, _ = request_run(task="real_bogus", options={"epochs": 1, "batch_size": 32}, enqueue=False)
    outcome = execute_run(run.pk)
    run.refresh_from_db()
    assert (outcome["status"], outcome["promoted"]) == ("succeeded", False)
    assert run.version.status == ModelVersion.Status.CANDIDATE
    assert RegistryEvent.objects.filter(version=run.version, action=RegistryEvent.Action.REJECT).exists()
    kept = run.progress[-1]
    assert (kept["phase"], kept["version_id"]) == ("kept", run.version_id)
    assert "does not promote" in kept["reason"]
    evaluated = next(e for e in run.progress if e["phase"] == "evaluated")
    assert evaluated["metrics"]["candidate"]["n"] == run.version.metrics["heldout"]["n"] > 0
    assert evaluated["metrics"]["active"] is None


def _silent_run(**fields) -> TrainingRun:
    an_hour_ago = timezone.now() - timezone.timedelta(hours=1)
    return TrainingRun.objects.create(task="real_bogus", status="running", heartbeat_at=an_hour_ago, **fields)


def test_the_reaper_fails_a_silent_run_and_retries_it_once(db):
    run = _silent_run(attempts=1, options={"epochs": 2})
    assert reap_stale_runs() == [run]
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    retry = TrainingRun.objects.get(trigger="retry")
    assert (retry.status, retry.attempts, retry.options) == ("queued", 1, {"epochs": 2, "retry_of": run.pk})
    assert retry.task_result_id
    assert [e["phase"] for e in run.progress] == ["failed", "retried"]


def test_the_reaper_gives_up_a_run_whose_attempts_are_spent(db):
    run = _silent_run(attempts=2)
    reap_stale_runs()
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert [e["phase"] for e in run.progress] == ["failed", "given_up"]
    assert TrainingRun.objects.count() == 1
