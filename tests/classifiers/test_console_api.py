"""The ML console API: who may call it, and what an ML lead's script gets back."""

from __future__ import annotations

import pytest

from labeling.models import Campaign, Subject
from tests.classifiers.console_helpers import world_fixture


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    yield from world_fixture(django_db_blocker)


@pytest.fixture(autouse=True)
def _db(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def endpoints(world):
    return [
        ("get", f"/api/console/compare/?a={world['v2'].pk}&b={world['v3'].pk}"),
        ("get", f"/api/console/slices/?version={world['v2'].pk}"),
        ("get", "/api/console/disagreements/"),
        ("post", "/api/console/disagreements/send/"),
        ("get", "/api/console/drift/"),
        ("get", "/api/console/drift/flagged/"),
        ("get", "/api/console/drift/2026-07-05/"),
    ]


def test_only_ml_leads_and_admins_get_in(world, api_for, volunteer, scientist, mllead, admin_user):
    for method, url in endpoints(world):
        assert getattr(api_for(None), method)(url).status_code == 401, url
        for user in (volunteer, scientist):
            assert getattr(api_for(user), method)(url, {}).status_code == 403, (user.username, url)
        if method == "get":
            for user in (mllead, admin_user):
                assert api_for(user).get(url).status_code == 200, (user.username, url)


def test_compare_returns_metrics_curves_and_bootstrap_intervals(world, api_for, mllead):
    body = api_for(mllead).get("/api/console/compare/?a=real_bogus:2&b=real_bogus:3").json()
    assert body["n"] == 500
    assert body["label_sources"] == {
        "volunteer consensus (retired subjects)": 60,
        "demo truth (generated alerts)": 440,
    }
    assert body["metrics_b"]["roc_auc"] > body["metrics_a"]["roc_auc"]
    assert len(body["metrics_a"]["roc"]["fpr"]) == len(body["metrics_a"]["roc"]["tpr"]) > 2
    assert body["metrics_a"]["pr"]["precision"]
    auc = next(d for d in body["deltas"] if d["metric"] == "roc_auc")
    assert auc["low"] <= auc["delta"] <= auc["high"]
    assert auc["low"] > 0
    assert auc["better"] == "b"
    assert body["bootstrap"]["paired"] is True
    assert len(body["changed"]) == 12
    assert abs(body["changed"][0]["delta"]) >= abs(body["changed"][-1]["delta"])


def test_compare_names_the_bad_parameter(world, api_for, mllead):
    response = api_for(mllead).get(f"/api/console/compare/?a={world['v2'].pk}&b=real_bogus:99")
    assert response.status_code == 400
    assert response.json() == {"detail": "no model version 'real_bogus:99'", "code": "invalid", "field": "b"}


def test_slices_mark_the_faint_candidates(world, api_for, mllead):
    body = api_for(mllead).get(f"/api/console/slices/?version={world['v2'].pk}").json()
    magnitude = next(d for d in body["dimensions"] if d["dimension"] == "magnitude")
    faint = next(s for s in magnitude["slices"] if s["slice"] == "≥ 20")
    assert faint["worse"]
    assert faint["worse_reasons"]
    assert {d["dimension"] for d in body["dimensions"]} == {
        "filter",
        "magnitude",
        "latitude",
        "isdiffpos",
        "solar_system",
        "night",
    }


def test_disagreements_and_sending_them_to_gold_review(world, api_for, mllead):
    client = api_for(mllead)
    # Sending subjects changes the campaign: its scientist has invited this ML lead as a collaborator.
    Campaign.objects.get(slug="night-review").collaborators.add(mllead)
    body = client.get("/api/console/disagreements/?campaign=night-review&limit=5").json()
    assert body["version"]["label"] == "real_bogus v2"
    assert 0 < len(body["rows"]) <= 5
    strengths = [r["strength"] for r in body["rows"]]
    assert strengths == sorted(strengths, reverse=True)
    ids = [r["subject_id"] for r in body["rows"][:3]]
    sent = client.post(
        "/api/console/disagreements/send/",
        {"subject_ids": ids, "target": "gold", "campaign": "night-review"},
        format="json",
    )
    assert sent.status_code == 200
    assert sent.json() == {"campaign": "night-review", "created": False, "added": 0, "marked": 3, "already_answered": 0}
    assert Subject.objects.filter(pk__in=ids, gold_note__startswith="Needs an expert answer").count() == 3


def test_sending_alerts_to_a_new_draft_campaign(world, api_for, mllead):
    alert_ids = [a.pk for a in world["alerts"][100:104]]
    response = api_for(mllead).post(
        "/api/console/disagreements/send/",
        {"alert_ids": alert_ids, "target": "new", "name": "Faint ones", "owner": "world-owner"},
        format="json",
    )
    assert response.status_code == 201
    campaign = Campaign.objects.get(slug=response.json()["campaign"])
    assert campaign.state == "draft"
    assert campaign.owner.username == "world-owner"
    assert len(campaign.selection["candid"]) == 4


def test_sending_nothing_is_a_clear_error(world, api_for, mllead):
    response = api_for(mllead).post(
        "/api/console/disagreements/send/", {"target": "gold", "campaign": "night-review"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "select at least one candidate", "code": "invalid", "field": "subjects"}


def test_drift_nights_flagged_list_and_one_night(world, api_for, mllead):
    client = api_for(mllead)
    body = client.get("/api/console/drift/").json()
    assert [n["night"] for n in body["nights"]] == [d.isoformat() for d in world["days"]]
    assert [n["reference"] for n in body["nights"]] == [True, True, True, False, False]
    assert [n["flagged"] for n in body["nights"]] == [False, False, False, False, True]
    assert set(body["nights"][0]["percentiles"]["fwhm"]) == {
        "max",
        "p93",
        "p84",
        "p69",
        "p50",
        "p31",
        "p16",
        "p7",
        "min",
    }
    flagged = client.get("/api/console/drift/flagged/").json()["nights"]
    assert [n["night"] for n in flagged] == ["2026-07-05"]
    assert flagged[0]["statistics"]["fwhm"]["drifted"] is True
    night = client.get("/api/console/drift/2026-07-05/").json()
    assert night["flagged_reasons"][0].startswith("Seeing FWHM")
    assert client.get("/api/console/drift/1999-01-01/").status_code == 404


def test_the_console_api_is_in_the_openapi_schema(world, api_for, mllead):
    schema = api_for(mllead).get("/api/schema/?format=json").json()
    for route in (
        "/api/console/compare/",
        "/api/console/slices/",
        "/api/console/disagreements/",
        "/api/console/disagreements/send/",
        "/api/console/drift/",
        "/api/console/drift/flagged/",
        "/api/console/drift/{night}/",
    ):
        assert route in schema["paths"], route
    assert "Compare" in schema["components"]["schemas"]
