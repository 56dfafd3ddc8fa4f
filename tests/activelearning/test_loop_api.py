"""The loop API and page: ML leads trigger, follow and reorder; nobody else may."""

from __future__ import annotations

import pytest

from classifiers.models import TrainingRun
from tests.conftest import labels_to_train_on


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/loop/"),
        ("get", "/api/loop/runs/"),
        ("post", "/api/loop/retrain/"),
        ("post", "/api/loop/campaigns/demo-real-bogus/reorder/"),
    ],
)
def test_volunteers_and_scientists_are_refused(api_for, volunteer, scientist, method, url):
    assert getattr(api_for(None), method)(url).status_code in (401, 403)
    assert getattr(api_for(volunteer), method)(url).status_code == 403
    assert getattr(api_for(scientist), method)(url).status_code == 403


def test_an_ml_lead_triggers_a_retraining_and_a_second_request_gets_the_same_run(api_for, mllead, live_campaign):
    labels_to_train_on(live_campaign)
    api = api_for(mllead)
    first = api.post(
        "/api/loop/retrain/", {"task": "real_bogus", "campaign": live_campaign.slug, "epochs": 3}, format="json"
    )
    assert first.status_code == 202
    assert first.json()["created"] is True
    run_id = first.json()["run"]["id"]
    assert first.json()["run"]["status"] == "queued"
    again = api.post("/api/loop/retrain/", {"task": "real_bogus", "campaign": live_campaign.slug}, format="json")
    assert again.status_code == 200
    assert again.json() == {**again.json(), "created": False}
    assert again.json()["run"]["id"] == run_id
    assert TrainingRun.objects.count() == 1
    run = TrainingRun.objects.get()
    assert run.options["epochs"] == 3
    assert run.triggered_by == mllead

    listed = api.get("/api/loop/runs/").json()
    assert [r["id"] for r in listed] == [run_id]
    detail = api.get(f"/api/loop/runs/{run_id}/").json()
    assert detail["events"][0]["phase"] == "queued"
    assert api.get("/api/loop/runs/999999/").status_code == 404


def test_bad_retrain_requests_name_the_field(api_for, mllead, live_campaign):
    api = api_for(mllead)
    r = api.post("/api/loop/retrain/", {"task": "real_bogus", "campaign": "no-such-campaign"}, format="json")
    assert r.status_code == 400
    assert r.json()["field"] == "campaign"
    r = api.post("/api/loop/retrain/", {"task": "cats", "campaign": live_campaign.slug}, format="json")
    assert r.status_code == 400
    assert r.json()["field"] == "task"
    r = api.post(
        "/api/loop/retrain/", {"task": "real_bogus", "campaign": live_campaign.slug, "epochs": 0}, format="json"
    )
    assert r.status_code == 400
    assert r.json()["field"] == "epochs"
    assert api.get("/api/loop/runs/?limit=0").status_code == 400
    assert not TrainingRun.objects.exists()


def test_reorder_is_queued_for_the_worker(api_for, mllead, live_campaign):
    from django_tasks_db.models import DBTaskResult

    r = api_for(mllead).post(f"/api/loop/campaigns/{live_campaign.slug}/reorder/")
    assert r.status_code == 202
    assert DBTaskResult.objects.filter(id=r.json()["task_result_id"]).exists()


def test_the_loop_page_is_for_ml_leads(client_for, volunteer, scientist, mllead, admin_user, live_campaign):
    assert client_for(None).get("/ml/loop/").status_code == 302
    assert client_for(volunteer).get("/ml/loop/").status_code == 403
    assert client_for(scientist).get("/ml/loop/").status_code == 403
    page = client_for(mllead).get("/ml/loop/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Retrain now" in text
    assert live_campaign.name in text
    assert 'id="loop-data"' in text
    assert "<script>" not in text  # CSP: no inline script
    assert client_for(admin_user).get("/ml/loop/").status_code == 200


def test_the_loop_page_writes_nothing_not_even_to_reap_a_dead_workers_run(client_for, mllead, live_campaign):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    silent_for_an_hour = timezone.now() - timezone.timedelta(hours=1)
    run = TrainingRun.objects.create(
        task="real_bogus", campaign=live_campaign, status="running", attempts=1, heartbeat_at=silent_for_an_hour
    )
    client = client_for(mllead)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/ml/loop/").status_code == 200
    writes = [q["sql"] for q in queries if q["sql"].split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}]
    assert [sql for sql in writes if "django_session" not in sql] == []
    run.refresh_from_db()
    assert run.status == "running"
    assert TrainingRun.objects.count() == 1
