"""The classifiers API: who may read scores and explanations, and who may promote, roll back and train."""

from __future__ import annotations

import pytest

from classifiers.models import ModelVersion, RegistryEvent, TrainingRun
from classifiers.scoring import score_alerts
from tests.conftest import labels_to_train_on, register_untrained_braai


@pytest.fixture
def scored(braai_version, demo_alerts):
    score_alerts([a.pk for a in demo_alerts[:3]], braai_version)
    return demo_alerts[0]


def test_any_signed_in_user_reads_an_alerts_scores_per_version(api_for, volunteer, scored, braai_version):
    other = register_untrained_braai(seed=9)
    score_alerts([scored.pk], other)
    response = api_for(volunteer).get(f"/api/alerts/{scored.candid}/scores/")
    assert response.status_code == 200
    body = response.json()
    assert body["candid"] == scored.candid
    assert [(s["version"], s["status"]) for s in body["scores"]] == [(2, "candidate"), (1, "active")]
    assert all(0 <= s["score"] <= 1 for s in body["scores"])
    assert api_for(None).get(f"/api/alerts/{scored.candid}/scores/").status_code == 401
    assert api_for(volunteer).get("/api/alerts/1/scores/").status_code == 404


def test_explanation_png_is_served_and_cached(api_for, client_for, volunteer, scored, braai_version):
    url = f"/api/alerts/{scored.candid}/explanations/gradcam.png"
    response = client_for(volunteer).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"
    again = client_for(volunteer).get(url, HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    assert client_for(volunteer).get(f"{url}?version={braai_version.pk}").status_code == 200
    assert client_for(volunteer).get(f"{url}?version=nope").status_code == 400
    assert client_for(volunteer).get(f"{url}?version=999999").status_code == 404
    assert client_for(volunteer).get(f"/api/alerts/{scored.candid}/explanations/lime.png").status_code == 404
    assert api_for(None).get(url).status_code == 401


def test_explanation_without_any_model_is_a_clear_404(client_for, volunteer, demo_alerts):
    response = client_for(volunteer).get(f"/api/alerts/{demo_alerts[0].candid}/explanations/saliency.png")
    assert response.status_code == 404
    assert "no real/bogus model is active" in response.json()["detail"]


def test_only_ml_leads_and_admins_see_the_registry(api_for, volunteer, scientist, mllead, admin_user, braai_version):
    for user, expected in ((None, 401), (volunteer, 403), (scientist, 403), (mllead, 200), (admin_user, 200)):
        assert api_for(user).get("/api/models/versions/").status_code == expected, user
    detail = api_for(mllead).get(f"/api/models/versions/{braai_version.pk}/").json()
    assert detail["label"] == "real_bogus v1"
    assert detail["status"] == "active"
    assert [e["action"] for e in detail["events"]] == ["promote", "register"]
    assert api_for(mllead).get("/api/models/versions/?task=nonsense").status_code == 400


def test_ml_lead_promotes_and_rolls_back_with_a_reason(api_for, mllead, volunteer, braai_version):
    newer = register_untrained_braai(seed=4)
    url = f"/api/models/versions/{newer.pk}/promote/"
    assert api_for(volunteer).post(url, {"reason": "x"}, format="json").status_code == 403
    assert api_for(mllead).post(url, {}, format="json").status_code == 400
    response = api_for(mllead).post(url, {"reason": "better recall on faint sources"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert api_for(mllead).post(url, {"reason": "again"}, format="json").status_code == 409
    event = RegistryEvent.objects.filter(action="promote", version=newer).get()
    assert (event.actor, event.reason, event.previous_active) == (
        mllead,
        "better recall on faint sources",
        braai_version,
    )

    back = api_for(mllead).post("/api/models/rollback/", {"task": "real_bogus", "reason": "FPR doubled"}, format="json")
    assert back.status_code == 200
    assert back.json()["id"] == braai_version.pk
    assert ModelVersion.objects.get(pk=braai_version.pk).status == "active"
    again = api_for(mllead).post("/api/models/rollback/", {"task": "real_bogus", "reason": "more"}, format="json")
    assert again.status_code == 409


def test_train_request_queues_one_run_for_the_worker(
    api_for, mllead, volunteer, live_campaign, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    assert api_for(volunteer).post("/api/models/train/", {"task": "real_bogus"}, format="json").status_code == 403
    bad = api_for(mllead).post("/api/models/train/", {"task": "real_bogus", "campaign": "nope"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["field"] == "campaign"
    labels_to_train_on(live_campaign)
    payload = {"task": "real_bogus", "campaign": live_campaign.slug, "epochs": 3}
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(mllead).post("/api/models/train/", payload, format="json")
    assert response.status_code == 202
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert (run.status, run.campaign, run.triggered_by) == ("queued", live_campaign, mllead)
    assert run.options == {"epochs": 3, "promote": "never"}
    # The task is enqueued for manage.py db_worker in the run's own transaction.
    assert DBTaskResult.objects.filter(task_path="classifiers.runs.worker.train_run").count() == 1
    run.refresh_from_db()
    assert run.task_result_id
    second = api_for(mllead).post("/api/models/train/", payload, format="json")
    assert second.status_code == 409
    assert second.json()["code"] == "in_flight"
    assert second.json()["run"]["id"] == run.pk
    status = api_for(mllead).get(f"/api/models/training-runs/{run.pk}/")
    assert status.status_code == 200
    assert status.json()["status"] == "queued"


def test_the_alert_page_shows_the_model_panel_only_when_a_model_scored_it(client_for, volunteer, demo_alerts):
    alert = demo_alerts[0]
    page = client_for(volunteer).get(f"/alerts/{alert.candid}/")
    assert page.status_code == 200
    assert "explanations/gradcam.png" not in page.content.decode()
    version = register_untrained_braai(seed=1, promote=True)
    score_alerts([alert.pk], version)
    html = client_for(volunteer).get(f"/alerts/{alert.candid}/").content.decode()
    assert "real_bogus v1" in html
    assert f"/api/alerts/{alert.candid}/explanations/gradcam.png?version={version.pk}" in html
