"""Issue 22's probe on input the database cannot store: a NUL character or a lone surrogate, through the paths
that skipped the API's own checks, is a 400 that names the field, and nothing is written."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from classifiers.models import ModelVersion, RegistryEvent
from labeling.models import Campaign, Comment, Subject
from tests.labeling.classify_helpers import make_alerts, make_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(scientist):
    return make_campaign(scientist, make_alerts(3, stamps=False), slug="probe-inputs")


@pytest.mark.parametrize("encoding", ["multipart", "urlencoded"])
def test_a_nul_in_the_gold_note_form_is_a_400_naming_the_note(client_for, scientist, campaign, encoding):
    subject = campaign.subjects.order_by("pk").first()
    url = f"/campaigns/manage/{campaign.slug}/subjects/{subject.pk}/gold/"
    form = {"answer": "real", "note": "bad\x00note"}
    if encoding == "multipart":
        r = client_for(scientist).post(url, form)
    else:
        r = client_for(scientist).post(url, urlencode(form), content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400
    assert "note" in r.content.decode()
    subject.refresh_from_db()
    assert (subject.gold_answer, subject.gold_note) == ("", "")


def test_a_nul_in_a_promote_reason_is_a_400_naming_the_reason(client_for, mllead):
    version = ModelVersion.objects.create(
        task="real_bogus", version=1, architecture="braai_vgg6", weights=b"-", sha256="0" * 64
    )
    r = client_for(mllead).post(f"/ml/versions/{version.pk}/promote/", {"reason": "because\x00"})
    assert r.status_code == 400
    assert "reason" in r.content.decode()
    assert not RegistryEvent.objects.exists()
    version.refresh_from_db()
    assert version.status == "candidate"


def test_a_nul_in_a_nested_class_label_is_a_400_naming_the_label(api_for, scientist):
    body = {
        "name": "Nested NUL",
        "question_type": "custom",
        "classes": [{"key": "sn", "label": "Super\x00nova"}, {"key": "junk", "label": "Junk"}],
    }
    r = api_for(scientist).post("/api/campaigns/", data=json.dumps(body), content_type="application/json")
    assert r.status_code == 400, r.content
    assert r.json()["field"] == "classes.0.label"
    assert not Campaign.objects.filter(name="Nested NUL").exists()


def test_a_lone_surrogate_in_a_talk_comment_is_a_400_naming_the_body(api_for, volunteer, campaign):
    alert = Subject.objects.filter(campaign=campaign).first().alert
    client, url = api_for(volunteer), f"/api/talk/alerts/{alert.candid}/comments/"
    r = client.post(url, data=b'{"body": "broken \\ud800 character"}', content_type="application/json")
    assert r.status_code == 400, r.content
    assert r.json()["field"] == "body"
    assert not Comment.objects.exists()
    # A surrogate pair is one character like any other (an emoji), and is stored.
    r = client.post(url, data=b'{"body": "a comet \\ud83d\\udcab tonight"}', content_type="application/json")
    assert r.status_code == 201, r.content
    assert Comment.objects.get().body == "a comet \U0001f4ab tonight"


def test_the_talk_service_refuses_a_lone_surrogate_too(volunteer, campaign):
    from labeling.talk import TalkRefused, comment_post

    alert = Subject.objects.filter(campaign=campaign).first().alert
    with pytest.raises(TalkRefused) as refused:
        comment_post(alert=alert, author=volunteer, body="broken \ud800")
    assert refused.value.field == "body"
    assert not Comment.objects.exists()
