"""Issue 22's probe on votes: fake accounts must not decide labels, a replayed vote must not open a private
campaign, and a crafted next-subject URL is a 400, not a 500."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.consensus import NEWCOMER_WEIGHT, forget_record
from labeling.models import Campaign, Vote
from labeling.votes import served_token
from tests.labeling.classify_helpers import make_alerts, make_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(scientist):
    # retire_after stays at its default (5) and every subject is a plain one (no gold).
    return make_campaign(scientist, make_alerts(8, stamps=False), slug="probe-rb", gold_share=0.0)


def fresh_accounts(django_user_model, n: int) -> list:
    return [django_user_model.objects.create_user(f"fake{i:02d}", password="fake-account-pw-1") for i in range(n)]


def vote(client, campaign, subject_id: int, answer: str = "bogus", key: str | None = None, served=None):
    """A vote as the classify page sends it; ``served`` is the token of the subject's card (default: the one the
    client's last next/ call served for this subject, none if it was not served)."""
    if served is None:
        served = getattr(client, "served_tokens", {}).get(subject_id)
    body = {"subject": subject_id, "answer": answer, "idempotency_key": key or str(uuid.uuid4())}
    if served is not None:
        body["served"] = served
    return client.post(f"/api/campaigns/{campaign.slug}/votes/", data=json.dumps(body), content_type="application/json")


def served_ids(client, campaign, n: int = 20) -> list[int]:
    """GET next as the page does; the cards' served tokens are kept on the client for ``vote``."""
    r = client.get(f"/api/campaigns/{campaign.slug}/next/?n={n}")
    assert r.status_code == 200, r.content
    cards = r.json()["subjects"]
    client.served_tokens = {**getattr(client, "served_tokens", {}), **{c["id"]: c["served"] for c in cards}}
    return [card["id"] for card in cards]


def refused_as_not_served(r) -> None:
    assert r.status_code == 409, r.content
    assert r.json()["code"] == "not_served"
    assert r.json()["field"] == "subject"
    assert "not served to you" in r.json()["detail"]
    assert Vote.objects.count() == 0


class TestOnlyServedSubjectsTakeVotes:
    def test_a_vote_on_a_subject_never_served_to_the_voter_is_refused(self, api_for, volunteer, campaign):
        target = campaign.subjects.order_by("pk").first()
        refused_as_not_served(vote(api_for(volunteer), campaign, target.pk))
        target.refresh_from_db()
        assert (target.n_classifications, target.majority_label) == (0, "")

    def test_a_subject_served_through_next_takes_the_vote(self, api_for, volunteer, campaign):
        client = api_for(volunteer)
        first = served_ids(client, campaign, n=1)[0]
        assert client.served_tokens[first]
        assert vote(client, campaign, first).status_code == 201

    def test_a_subject_served_to_someone_else_does_not_count_for_me(
        self, api_for, volunteer, other_volunteer, campaign
    ):
        theirs_client = api_for(other_volunteer)
        theirs = served_ids(theirs_client, campaign, n=1)[0]
        # Neither without a token nor with the one served to them.
        refused_as_not_served(vote(api_for(volunteer), campaign, theirs))
        refused_as_not_served(vote(api_for(volunteer), campaign, theirs, served=theirs_client.served_tokens[theirs]))

    @pytest.mark.parametrize("forge", ["", "garbage", "1a2b3c:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x" * 200])
    def test_a_forged_token_is_refused(self, api_for, volunteer, campaign, forge):
        target = campaign.subjects.order_by("pk").first()
        refused_as_not_served(vote(api_for(volunteer), campaign, target.pk, served=forge))

    def test_a_token_for_another_subject_or_campaign_is_refused(self, api_for, volunteer, scientist, campaign):
        client = api_for(volunteer)
        first, second = served_ids(client, campaign, n=2)
        refused_as_not_served(vote(client, campaign, second, served=client.served_tokens[first]))
        # The same subject id signed for another campaign (the campaign is part of what is signed).
        other = make_campaign(scientist, make_alerts(2, start=70, stamps=False), slug="probe-other", gold_share=0.0)
        subject = campaign.subjects.get(pk=second)
        subject.campaign_id = other.pk
        refused_as_not_served(vote(client, campaign, second, served=served_token(volunteer=volunteer, subject=subject)))

    def test_a_token_older_than_its_max_age_is_refused(self, api_for, volunteer, campaign, monkeypatch):
        from labeling import votes

        client = api_for(volunteer)
        first = served_ids(client, campaign, n=1)[0]
        monkeypatch.setattr(votes, "SERVED_MAX_AGE_S", -1)
        refused_as_not_served(vote(client, campaign, first))
        monkeypatch.undo()
        assert vote(client, campaign, first).status_code == 201

    def test_a_stored_vote_replayed_without_its_token_is_still_the_stored_vote(self, api_for, volunteer, campaign):
        """The outbox may resend a vote whose answer was lost: the replay answers with the stored vote."""
        client = api_for(volunteer)
        first = served_ids(client, campaign, n=1)[0]
        key = str(uuid.uuid4())
        assert vote(client, campaign, first, key=key).status_code == 201
        assert vote(client, campaign, first, key=key, served="").status_code == 200
        assert Vote.objects.count() == 1


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


def test_serving_subjects_writes_nothing(api_for, volunteer, campaign):
    """No writes on GET: the proof of serving travels in the card, signed."""
    client = api_for(volunteer)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert len(served_ids(client, campaign)) == campaign.subjects.count()
    writes = [q["sql"] for q in queries if q["sql"].lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}]
    assert writes == []
