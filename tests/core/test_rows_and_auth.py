"""core.rows (model rows read with SQL built once) and core.auth (sessions and users read through it):
the same instances and the same rules as the ORM and Django's own session and auth backends."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from core.auth import ModelBackend
from core.rows import fetch, fetch_one
from labeling.models import Alert, Campaign
from tests.labeling.classify_helpers import make_alerts, make_campaign

pytestmark = pytest.mark.django_db


def concrete_values(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_fetch_one_gives_the_instance_the_orm_gives(scientist):
    campaign = make_campaign(scientist, make_alerts(2, stamps=False), slug="rows")
    fast = fetch_one(Campaign, "slug = %s", ["rows"])
    slow = Campaign.objects.get(slug="rows")
    assert type(fast) is Campaign
    assert fast.pk == campaign.pk
    assert concrete_values(fast) == concrete_values(slow)  # JSON classes, datetimes, booleans converted alike
    assert isinstance(fast.classes, list)
    assert fast.classes
    assert not fast._state.adding
    assert fast._state.db == "default"
    assert fetch_one(Campaign, "slug = %s", ["no-such-campaign"]) is None


def test_skipped_fields_are_deferred_and_load_on_access():
    alert = make_alerts(1, stamps=False)[0]
    stored = Alert.objects.get(pk=alert.pk)
    (fast,) = fetch(Alert, "id IN (%s)", [alert.pk], skip=("candidate",))
    assert "candidate" in fast.get_deferred_fields()
    assert fast.magpsf == stored.magpsf
    assert fast.night == stored.night
    assert fast.isdiffpos == stored.isdiffpos
    assert fast.candidate == stored.candidate  # one more query, as .defer() would make


def test_fetch_keeps_every_matching_row():
    alerts = make_alerts(3, stamps=False)
    ids = [a.pk for a in alerts]
    found = fetch(Alert, "id IN (%s, %s, %s)", ids, skip=("candidate",))
    assert sorted(a.pk for a in found) == sorted(ids)


def test_a_signed_in_volunteer_is_recognised_and_an_expired_session_is_not(client, volunteer):
    client.force_login(volunteer)
    assert client.get("/api/campaigns/none/next/").status_code == 404  # signed in: the campaign is what is missing
    Session.objects.update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    refused = client.get("/api/campaigns/none/next/")
    assert refused.status_code in (401, 403)


def test_a_made_up_session_key_is_anonymous(client):
    client.cookies["sessionid"] = "x" * 32
    assert client.get("/api/campaigns/none/next/").status_code in (401, 403)


def test_a_form_login_stores_a_session_this_backend_reads(client, volunteer):
    from tests.conftest import PASSWORD

    response = client.post("/accounts/login/", {"username": volunteer.username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/api/campaigns/none/next/").status_code == 404


def test_get_user_follows_django_rules(volunteer):
    backend = ModelBackend()
    user = backend.get_user(volunteer.pk)
    assert user == volunteer
    assert user.username == volunteer.username
    assert user.password == volunteer.password
    assert backend.get_user(10**9) is None
    volunteer.is_active = False
    volunteer.save(update_fields=["is_active"])
    assert backend.get_user(volunteer.pk) is None


def test_the_classify_api_answers_json_whatever_the_accept_header(client, volunteer):
    client.force_login(volunteer)
    response = client.get("/api/campaigns/none/next/", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "not_found"
