"""The classify API's vote endpoint: every vote stored exactly once, every refusal a clear 4xx naming why."""

from __future__ import annotations

import json
import uuid

import pytest

from labeling.models import Campaign, Subject, TutorialSeen, Vote
from labeling.votes import served_token
from tests.labeling.classify_helpers import make_alerts, make_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(scientist):
    alerts = make_alerts(6, stamps=False)
    return make_campaign(scientist, alerts, slug="rb", retire_after=2, gold={0: "bogus"})


@pytest.fixture
def other_campaign(scientist):
    alerts = make_alerts(2, start=100, stamps=False)
    return make_campaign(scientist, alerts, slug="other")


def votes_url(campaign) -> str:
    return f"/api/campaigns/{campaign.slug}/votes/"


def post(client, campaign, payload, **extra):
    """POST the vote as the classify page does: with the served token its card carried (the vote counts only on a
    subject served to its voter, tests/security/test_probe_votes.py), unless the payload names its own."""
    voter = getattr(client.handler, "_force_user", None)
    if isinstance(payload, dict) and "served" not in payload and voter is not None:
        subject = Subject.objects.filter(pk=payload.get("subject") if type(payload.get("subject")) is int else 0)
        if subject.exists():
            payload = {**payload, "served": served_token(volunteer=voter, subject=subject.get())}
    return client.post(votes_url(campaign), data=json.dumps(payload), content_type="application/json", **extra)


def a_vote(subject, answer="real", key=None, **more):
    return {"subject": subject.pk, "answer": answer, "idempotency_key": str(key or uuid.uuid4()), **more}


def subjects(campaign):
    return list(Subject.objects.filter(campaign=campaign).order_by("pk"))


class TestStoredOnce:
    def test_it_stores_a_vote_and_answers_201_with_stats(self, api_for, volunteer, campaign):
        s = subjects(campaign)[1]
        r = post(api_for(volunteer), campaign, a_vote(s, duration_ms=1234))
        assert r.status_code == 201, r.content
        body = r.json()
        assert body["created"] is True
        assert body["vote"]["answer"] == "real"
        assert body["stats"]["classifications"] == 1
        assert body["progress"]["classifications"] == 1
        assert body["gold"] is None
        vote = Vote.objects.get()
        assert (vote.subject_id, vote.volunteer_id, vote.duration_ms) == (s.pk, volunteer.pk, 1234)

    def test_it_ignores_a_repeated_vote_with_the_same_key(self, api_for, volunteer, campaign):
        s = subjects(campaign)[1]
        payload = a_vote(s)
        client = api_for(volunteer)
        first = post(client, campaign, payload)
        second = post(client, campaign, payload)
        assert (first.status_code, second.status_code) == (201, 200)
        assert second.json()["created"] is False
        assert second.json()["vote"]["id"] == first.json()["vote"]["id"]
        assert Vote.objects.count() == 1
        s.refresh_from_db()
        assert s.n_classifications == 1

    def test_it_refuses_a_second_vote_on_the_same_subject_with_another_key(self, api_for, volunteer, campaign):
        s = subjects(campaign)[1]
        client = api_for(volunteer)
        assert post(client, campaign, a_vote(s, "real")).status_code == 201
        r = post(client, campaign, a_vote(s, "bogus"))
        assert r.status_code == 409
        assert r.json()["code"] == "duplicate"
        assert "already classified" in r.json()["detail"]
        assert list(Vote.objects.values_list("answer", flat=True)) == ["real"]

    def test_a_key_reused_for_another_subject_is_refused(self, api_for, volunteer, campaign):
        s1, s2 = subjects(campaign)[1:3]
        key = uuid.uuid4()
        client = api_for(volunteer)
        assert post(client, campaign, a_vote(s1, key=key)).status_code == 201
        r = post(client, campaign, a_vote(s2, key=key))
        assert r.status_code == 409
        assert r.json()["code"] == "key_reused"
        assert Vote.objects.count() == 1


class TestRefusals:
    def test_it_refuses_a_retired_subject(self, api_for, volunteer, other_volunteer, scientist, campaign):
        campaign.volunteers.add(other_volunteer)  # listed by its scientist: a record, so a whole vote
        s = subjects(campaign)[1]
        assert post(api_for(other_volunteer), campaign, a_vote(s)).status_code == 201
        assert post(api_for(scientist), campaign, a_vote(s)).status_code == 201
        s.refresh_from_db()
        assert s.retired  # retire_after=2
        r = post(api_for(volunteer), campaign, a_vote(s))
        assert r.status_code == 409
        assert r.json()["code"] == "retired"
        assert r.json()["field"] == "subject"
        assert Vote.objects.filter(subject=s).count() == 2

    def test_it_refuses_a_subject_of_another_campaign(self, api_for, volunteer, campaign, other_campaign):
        foreign = subjects(other_campaign)[0]
        r = post(api_for(volunteer), campaign, a_vote(foreign))
        assert r.status_code == 404
        assert r.json()["code"] == "subject"
        assert "no such subject in this campaign" in r.json()["detail"]
        assert Vote.objects.count() == 0

    def test_it_refuses_an_unknown_subject(self, api_for, volunteer, campaign):
        r = post(
            api_for(volunteer), campaign, {"subject": 10**12, "answer": "real", "idempotency_key": str(uuid.uuid4())}
        )
        assert r.status_code == 404
        assert Vote.objects.count() == 0

    def test_it_refuses_a_volunteer_not_listed_on_a_listed_campaign(
        self, api_for, volunteer, other_volunteer, campaign
    ):
        campaign.access = Campaign.Access.LISTED
        campaign.save()
        campaign.volunteers.add(other_volunteer)
        s = subjects(campaign)[1]
        r = post(api_for(volunteer), campaign, a_vote(s))
        assert r.status_code == 403
        assert r.json()["code"] == "no_access"
        assert post(api_for(other_volunteer), campaign, a_vote(s)).status_code == 201
        assert Vote.objects.count() == 1
        assert Vote.objects.get().volunteer == other_volunteer

    def test_it_refuses_votes_on_a_paused_campaign(self, api_for, volunteer, campaign):
        Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.PAUSED)
        r = post(api_for(volunteer), campaign, a_vote(subjects(campaign)[1]))
        assert r.status_code == 403
        assert Vote.objects.count() == 0

    def test_it_refuses_anonymous_users(self, client, campaign):
        r = post(client, campaign, a_vote(subjects(campaign)[1]))
        assert r.status_code in (401, 403)
        assert Vote.objects.count() == 0

    def test_it_refuses_an_unknown_campaign(self, api_for, volunteer, campaign):
        r = api_for(volunteer).post("/api/campaigns/nope/votes/", data=a_vote(subjects(campaign)[1]), format="json")
        assert r.status_code == 404
        assert Vote.objects.count() == 0


class TestMalformedPayloads:
    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"subject": "12"}, "subject"),
            ({"subject": True}, "subject"),
            ({"subject": 1.5}, "subject"),
            ({"subject": -3}, "subject"),
            ({"subject": None}, "subject"),
            ({"answer": 1}, "answer"),
            ({"answer": ""}, "answer"),
            ({"answer": "x" * 65}, "answer"),
            ({"answer": "maybe"}, "answer"),
            ({"idempotency_key": "not-a-uuid"}, "idempotency_key"),
            ({"idempotency_key": 12345}, "idempotency_key"),
            ({"duration_ms": "fast"}, "duration_ms"),
            ({"duration_ms": -1}, "duration_ms"),
            ({"duration_ms": 10**12}, "duration_ms"),
            ({"extra": "field"}, "extra"),
            ({"served": 12}, "served"),
            ({"served": "x" * 201}, "served"),
        ],
    )
    def test_a_wrong_field_is_named(self, api_for, volunteer, campaign, change, field):
        payload = {**a_vote(subjects(campaign)[1]), **change}
        r = post(api_for(volunteer), campaign, payload)
        assert r.status_code == 400, r.content
        assert r.json()["field"] == field
        assert field in r.json()["detail"]
        assert Vote.objects.count() == 0

    @pytest.mark.parametrize("missing", ["subject", "answer", "idempotency_key"])
    def test_a_missing_field_is_named(self, api_for, volunteer, campaign, missing):
        payload = a_vote(subjects(campaign)[1])
        del payload[missing]
        r = post(api_for(volunteer), campaign, payload)
        assert r.status_code == 400
        assert r.json() == {"detail": f"{missing} is required", "code": "required", "field": missing}
        assert Vote.objects.count() == 0

    def test_a_body_that_is_not_an_object_is_refused(self, api_for, volunteer, campaign):
        r = post(api_for(volunteer), campaign, [1, 2, 3])
        assert r.status_code == 400
        assert "JSON object" in r.json()["detail"]

    def test_broken_json_is_refused(self, api_for, volunteer, campaign):
        r = api_for(volunteer).post(votes_url(campaign), data="{subject: ", content_type="application/json")
        assert r.status_code == 400
        assert "JSON" in r.json()["detail"]
        assert Vote.objects.count() == 0

    def test_a_form_post_is_refused_as_unsupported(self, api_for, volunteer, campaign):
        r = api_for(volunteer).post(votes_url(campaign), data={"subject": "1", "answer": "real"})
        assert r.status_code == 415
        assert Vote.objects.count() == 0

    def test_a_huge_payload_is_refused_before_parsing(self, api_for, volunteer, campaign):
        payload = {**a_vote(subjects(campaign)[1]), "answer": "real" + " " * 100_000}
        r = post(api_for(volunteer), campaign, payload)
        assert r.status_code == 413
        assert r.json()["code"] == "too_large"
        assert Vote.objects.count() == 0

    def test_nothing_is_stored_by_a_barrage_of_bad_requests(self, api_for, volunteer, campaign):
        client = api_for(volunteer)
        s = subjects(campaign)[1]
        bad = [{}, {"subject": s.pk}, {"answer": "real"}, "null", 42, {"subject": [s.pk], "answer": "real"}]
        for payload in bad:
            assert post(client, campaign, payload).status_code == 400
        assert Vote.objects.count() == 0
        s.refresh_from_db()
        assert (s.n_classifications, s.n_votes, s.retired) == (0, 0, False)


class TestGoldFeedbackAndStats:
    def test_gold_feedback_shows_the_experts_answer_after_voting(self, api_for, volunteer, campaign):
        gold = subjects(campaign)[0]
        r = post(api_for(volunteer), campaign, a_vote(gold, "real"))
        assert r.status_code == 201
        assert r.json()["gold"] == {"answer": "bogus", "label": "Bogus", "note": "", "agreed": False}
        assert r.json()["stats"]["gold"] == {"compared": 1, "agreed": 0}
        assert r.json()["stats"]["gold_agreement"] == 0.0

    def test_agreement_with_consensus_counts_subjects_others_voted_on(
        self, api_for, volunteer, other_volunteer, scientist, campaign
    ):
        campaign.retire_after = 10
        campaign.save()
        s1, s2, s3 = subjects(campaign)[1:4]
        for user, answers in ((other_volunteer, ("real", "bogus")), (scientist, ("real", "bogus"))):
            post(api_for(user), campaign, a_vote(s1, answers[0]))
            post(api_for(user), campaign, a_vote(s2, answers[1]))
        me = api_for(volunteer)
        post(me, campaign, a_vote(s1, "real"))  # agrees with the majority
        post(me, campaign, a_vote(s2, "real"))  # disagrees
        post(me, campaign, a_vote(s3, "real"))  # nobody else voted: not compared
        r = me.get(f"/api/campaigns/{campaign.slug}/me/")
        stats = r.json()["stats"]
        assert stats["classifications"] == 3
        assert stats["consensus"] == {"compared": 2, "agreed": 1}
        assert stats["consensus_agreement"] == 0.5

    def test_skips_count_as_classifications_but_not_agreement(self, api_for, volunteer, campaign):
        client = api_for(volunteer)
        post(client, campaign, a_vote(subjects(campaign)[0], "skip"))
        stats = client.get(f"/api/campaigns/{campaign.slug}/me/").json()["stats"]
        assert stats["classifications"] == 1
        assert stats["skips"] == 1
        assert stats["gold"]["compared"] == 0


class TestTutorialSeen:
    def test_marking_the_tutorial_seen_is_idempotent(self, api_for, volunteer, campaign):
        client = api_for(volunteer)
        url = f"/api/campaigns/{campaign.slug}/tutorial-seen/"
        assert client.post(url).status_code == 200
        assert client.post(url).status_code == 200
        assert TutorialSeen.objects.filter(campaign=campaign, volunteer=volunteer).count() == 1

    def test_an_anonymous_user_cannot_mark_it(self, client, campaign):
        assert client.post(f"/api/campaigns/{campaign.slug}/tutorial-seen/").status_code in (401, 403)
        assert TutorialSeen.objects.count() == 0


class TestLiveCounterIsBestEffort:
    def test_a_vote_succeeds_when_the_channel_layer_is_down(
        self, api_for, volunteer, campaign, settings, django_capture_on_commit_callbacks
    ):
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
            }
        }
        from channels.layers import channel_layers

        from labeling.live import reset_throttle

        channel_layers.backends.clear()
        reset_throttle()
        try:
            with django_capture_on_commit_callbacks(execute=True) as callbacks:
                r = post(api_for(volunteer), campaign, a_vote(subjects(campaign)[1]))
        finally:
            channel_layers.backends.clear()
        assert r.status_code == 201
        assert callbacks  # the publish ran, failed quietly, and the vote stands
        assert Vote.objects.count() == 1


def test_an_unreachable_database_is_a_503_to_retry_not_a_500(api_for, volunteer, campaign, monkeypatch):
    from django.db import OperationalError

    def down(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("classifiers.api.classify.next_subjects", down)
    monkeypatch.setattr("labeling.api.classify.vote_record", down)
    client = api_for(volunteer)
    r = client.get(f"/api/campaigns/{campaign.slug}/next/?n=1")
    assert r.status_code == 503
    assert r["Retry-After"] == "2"
    assert "Retry" in r.json()["detail"]
    r = post(client, campaign, a_vote(subjects(campaign)[1]))
    assert r.status_code == 503
    assert Vote.objects.count() == 0
