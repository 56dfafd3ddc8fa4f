"""A training run's stored events, numbered, as a page without a shared channel layer follows them:
``/api/models/training-runs/<id>/events/?after=<seq>&wait=<s>``."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.urls import reverse

from classifiers.fitting import NotEnoughLabels
from classifiers.models import TrainingRun
from classifiers.runs import events
from classifiers.runs.requests import request_run
from classifiers.runs.selectors import run_detail
from classifiers.runs.worker import execute_run
from tests.conftest import labels_to_train_on


def queued_run() -> TrainingRun:
    labels_to_train_on()
    run, created = request_run(task="real_bogus", trigger="api", options={"epochs": 3}, enqueue=False)
    assert created
    return run


def events_url(run, **query) -> str:
    url = reverse("api-training-run-events", args=[run.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_each_event_is_numbered_and_a_page_gets_only_those_after_its_last_number(db, mllead, api_for):
    run = queued_run()
    for epoch in (1, 2, 3):
        events.record(run, "running", step="epoch", epoch=epoch, epochs=3, loss=0.5 / epoch, val_loss=0.6)
    run.refresh_from_db()
    assert [e["seq"] for e in run.progress] == [1, 2, 3, 4]  # queued, then three epochs

    answer = api_for(mllead).get(events_url(run, after=2))
    assert answer.status_code == 200
    body = answer.json()
    assert body["seq"] == 4
    assert body["status"] == "queued"
    assert body["in_flight"] is True
    assert [(e["seq"], e["epoch"]) for e in body["events"]] == [(3, 2), (4, 3)]
    assert api_for(mllead).get(events_url(run, after=4)).json()["events"] == []
    # The loop page's runs carry where to follow them from.
    detail = run_detail(run.pk)
    assert detail["seq"] == 4
    assert detail["events_url"] == events_url(run)


def test_the_numbers_go_on_after_the_oldest_events_are_dropped(db, mllead, api_for, monkeypatch):
    monkeypatch.setattr(events, "MAX_EVENTS", 3)
    run = queued_run()
    for epoch in range(1, 6):
        events.record(run, "running", step="epoch", epoch=epoch, epochs=5, loss=0.1, val_loss=0.1)
    run.refresh_from_db()
    assert [e["seq"] for e in run.progress] == [4, 5, 6]
    body = api_for(mllead).get(events_url(run, after=5)).json()
    assert [e["epoch"] for e in body["events"]] == [5]


def test_the_event_sent_to_the_websocket_carries_its_number(db):
    run = queued_run()
    sent = events.record(run, "running", step="started", attempt=1)
    run.refresh_from_db()
    assert sent["seq"] == 2
    assert run.progress[-1] == sent


@pytest.mark.parametrize(
    ("query", "field"),
    [({"after": -1}, "after"), ({"after": "x"}, "after"), ({"wait": 5}, "wait"), ({"wait": "soon"}, "wait")],
)
def test_bad_input_is_refused_naming_the_parameter(db, mllead, api_for, query, field):
    run = queued_run()
    answer = api_for(mllead).get(events_url(run, **query))
    assert answer.status_code == 400
    assert answer.json()["field"] == field


def test_an_unknown_run_is_not_found(db, mllead, api_for):
    answer = api_for(mllead).get(reverse("api-training-run-events", args=[987654]))
    assert answer.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_waiting_request_answers_as_soon_as_the_next_event_is_stored(mllead, api_for):
    run = queued_run()

    def worker_stores_an_epoch():
        time.sleep(0.3)
        events.record(run, "running", step="epoch", epoch=1, epochs=3, loss=0.4, val_loss=0.5)
        connection.close()

    thread = threading.Thread(target=worker_stores_an_epoch)
    started = time.monotonic()
    thread.start()
    body = api_for(mllead).get(events_url(run, after=1, wait=1)).json()
    elapsed = time.monotonic() - started
    thread.join()
    assert [e["epoch"] for e in body["events"]] == [1]
    assert 0.25 < elapsed < 0.9
    # With nothing new, the answer waits its second and comes back empty.
    started = time.monotonic()
    assert api_for(mllead).get(events_url(run, after=2, wait=0.5)).json()["events"] == []
    assert time.monotonic() - started >= 0.5


@pytest.mark.django_db(transaction=True)
def test_each_epoch_is_stored_for_other_processes_as_it_ends(monkeypatch):
    """A worker's epochs are committed one by one, not when its training ends: another connection sees each
    epoch while the training is still going on."""
    run = queued_run()
    seen_elsewhere = []

    def stored_epochs_seen_by_another_connection() -> list[int]:
        found = []

        def look():
            progress = TrainingRun.objects.get(pk=run.pk).progress
            found.extend(e["epoch"] for e in progress if e.get("step") == "epoch")
            connection.close()

        thread = threading.Thread(target=look)
        thread.start()
        thread.join()
        return found

    def train(*, progress, hp, **kwargs):
        for epoch in range(1, hp.epochs + 1):
            progress({"event": "epoch", "member": "braai", "epoch": epoch, "epochs": hp.epochs, "loss": 0.3})
            seen_elsewhere.append(stored_epochs_seen_by_another_connection())
        raise NotEnoughLabels("the test ends the training here")

    monkeypatch.setattr("classifiers.runs.steps.training.train", train)
    outcome = execute_run(run.pk)
    assert outcome["status"] == TrainingRun.Status.FAILED
    assert seen_elsewhere == [[1], [1, 2], [1, 2, 3]]
