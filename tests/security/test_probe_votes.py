"""Issue 22's probe on votes: fake accounts must not decide labels, a replayed vote must not open a private
campaign, and a crafted next-subject URL is a 400, not a 500."""

from __future__ import annotations

import json
import uuid

import pytest

from labeling.consensus import NEWCOMER_WEIGHT, forget_record
from labeling.models import Campaign, Served, Subject, Vote
from labeling.progress import forget_progress
from tests.labeling.classify_helpers import make_alerts, make_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counts():
    forget_progress()
    yield
    forget_progress()


@pytest.fixture
def campaign(scientist):
    # retire_after stays at its default (5) and every subject is a plain one (no gold).
    return make_campaign(scientist, make_alerts(8, stamps=False), slug="probe-rb", gold_share=0.0)


def fresh_accounts(django_user_model, n: int) -> list:
    return [django_user_model.objects.create_user(f"fake{i:02d}", password="fake-account-pw-1") for i in range(n)]


def vote(client, campaign, subject_id: int, answer: str = "bogus", key: str | None = None):
    body = {"subject": subject_id, "answer": answer, "idempotency_key": key or str(uuid.uuid4())}
    return client.post(f"/api/campaigns/{campaign.slug}/votes/", data=json.dumps(body), content_type="application/json")


def served_ids(client, campaign, n: int = 20) -> list[int]:
    r = client.get(f"/api/campaigns/{campaign.slug}/next/?n={n}")
    assert r.status_code == 200, r.content
    return [card["id"] for card in r.json()["subjects"]]


class TestOnlyServedSubjectsTakeVotes:
    def test_a_vote_on_a_subject_never_served_to_the_voter_is_refused(self, api_for, volunteer, campaign):
        target = campaign.subjects.order_by("pk").first()
        r = vote(api_for(volunteer), campaign, target.pk)
        assert r.status_code == 409, r.content
        assert r.json()["code"] == "not_served"
        assert r.json()["field"] == "subject"
        assert "not served to you" in r.json()["detail"]
        assert Vote.objects.count() == 0
        target.refresh_from_db()
        assert (target.n_classifications, target.majority_label) == (0, "")

    def test_a_subject_served_through_next_takes_the_vote(self, api_for, volunteer, campaign):
        client = api_for(volunteer)
        first = served_ids(client, campaign, n=1)[0]
        assert Served.objects.filter(subject_id=first, volunteer=volunteer).exists()
        assert vote(client, campaign, first).status_code == 201

    def test_a_subject_served_to_someone_else_does_not_count_for_me(
        self, api_for, volunteer, other_volunteer, campaign
    ):
        theirs = served_ids(api_for(other_volunteer), campaign, n=1)[0]
        r = vote(api_for(volunteer), campaign, theirs)
        assert (r.status_code, r.json()["code"]) == (409, "not_served")


class TestFreshAccountsCannotSettleALabel:
    def test_five_fresh_accounts_voting_bogus_do_not_retire_a_subject(self, api_for, django_user_model, campaign):
        """The probe: five accounts made a minute ago, each served the subject, all say bogus. Five people the
        campaign's scientist listed (a record) do retire another subject with five votes."""
        target, other = campaign.subjects.order_by("pk")[:2]
        for account in fresh_accounts(django_user_model, 5):
            client = api_for(account)
            assert target.pk in served_ids(client, campaign)
            assert vote(client, campaign, target.pk).status_code == 201
        target.refresh_from_db()
        assert target.n_votes == 5
        assert not target.retired, target.retired_reason
        assert set(Vote.objects.values_list("weight", flat=True)) == {NEWCOMER_WEIGHT}

        people = [django_user_model.objects.create_user(f"listed{i}", password="listed-pw-1234") for i in range(5)]
        campaign.volunteers.add(*people)
        for person in people:
            client = api_for(person)
            served_ids(client, campaign)
            assert vote(client, campaign, other.pk, "real").status_code == 201
        other.refresh_from_db()
        assert other.retired
        assert (other.majority_label, other.majority_fraction) == ("real", 1.0)

    def test_right_answers_on_gold_subjects_make_a_record(self, api_for, volunteer, scientist):
        alerts = make_alerts(6, start=50, stamps=False)
        gold = make_campaign(
            scientist, alerts, slug="probe-gold", gold={0: "real", 1: "bogus", 2: "real"}, gold_share=0.0
        )
        client = api_for(volunteer)
        served_ids(client, gold)
        subjects = list(gold.subjects.order_by("pk"))
        for subject in subjects[:3]:
            assert vote(client, gold, subject.pk, subject.gold_answer).status_code == 201
        forget_record(campaign=gold, volunteer=volunteer)  # a newcomer's verdict is cached for a minute
        assert vote(client, gold, subjects[3].pk, "real").status_code == 201
        weights = list(Vote.objects.filter(volunteer=volunteer).order_by("pk").values_list("weight", flat=True))
        assert weights == [NEWCOMER_WEIGHT] * 3 + [1.0]

    def test_the_majority_weighs_a_record_above_two_newcomers(self, api_for, django_user_model, scientist, campaign):
        target = campaign.subjects.order_by("pk").first()
        for account in fresh_accounts(django_user_model, 2):
            client = api_for(account)
            served_ids(client, campaign)
            vote(client, campaign, target.pk, "bogus")
        trusted = api_for(scientist)
        served_ids(trusted, campaign)
        vote(trusted, campaign, target.pk, "real")
        target.refresh_from_db()
        # One vote with a record (1) against two without (0.5 + 0.5): a tie, resolved alphabetically to bogus;
        # the fraction shows the weighing (an unweighted majority would say 2/3).
        assert (target.majority_label, target.majority_fraction) == ("bogus", 0.5)


def test_replaying_a_vote_to_a_private_campaigns_url_reveals_nothing(api_for, volunteer, other_scientist, campaign):
    private = make_campaign(
        other_scientist, make_alerts(2, start=90, stamps=False), slug="probe-private", access=Campaign.Access.LISTED
    )
    client = api_for(volunteer)
    mine = served_ids(client, campaign, n=1)[0]
    key = str(uuid.uuid4())
    assert vote(client, campaign, mine, key=key).status_code == 201
    replay = vote(client, private, mine, key=key)
    assert replay.status_code in (403, 409), replay.content
    assert "progress" not in replay.json()
    assert set(replay.json()) == {"detail", "code", "field"}
    # The same replay to its own campaign is still the stored vote.
    assert vote(client, campaign, mine, key=key).status_code == 200


@pytest.mark.parametrize("exclude", ["99999999999999999999", "1,-1", "0", str(2**63)])
def test_an_exclude_id_out_of_range_is_a_400_naming_exclude(api_for, volunteer, campaign, exclude):
    r = api_for(volunteer).get(f"/api/campaigns/{campaign.slug}/next/?exclude={exclude}")
    assert r.status_code == 400, r.content
    assert r.json()["field"] == "exclude"
    assert not Served.objects.exists()


def test_subjects_stay_served_once_however_often_they_are_fetched(api_for, volunteer, campaign):
    client = api_for(volunteer)
    for _ in range(3):
        served_ids(client, campaign)
    assert Served.objects.filter(volunteer=volunteer).count() == Subject.objects.filter(campaign=campaign).count()
