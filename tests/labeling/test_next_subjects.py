"""labeling.queue.next_subjects: what a volunteer is served next, and the classify API's GET next (its cards
with the active model's verdict)."""

from __future__ import annotations

import random
import uuid
from collections import Counter

import pytest

from labeling.models import Alert, Campaign, Subject
from labeling.queue import PRIORITY_WINDOW, next_subjects
from labeling.votes import vote_record
from tests.labeling.classify_helpers import make_alerts, make_campaign

pytestmark = pytest.mark.django_db


def vote(campaign, subject, user, answer="real"):
    return vote_record(
        campaign=campaign, subject_id=subject.pk, volunteer=user, answer=answer, idempotency_key=uuid.uuid4()
    )


@pytest.fixture
def ranked(scientist):
    """100 subjects, priority 100..1 in creation order, the last 10 of them gold."""
    alerts = make_alerts(100, stamps=False)
    campaign = make_campaign(
        scientist,
        alerts,
        slug="ranked",
        gold={i: "bogus" for i in range(90, 100)},
        gold_share=0.0,
        exploration_share=0.0,
    )
    for i, s in enumerate(Subject.objects.filter(campaign=campaign).order_by("pk")):
        Subject.objects.filter(pk=s.pk).update(priority=100 - i)
    return campaign


def ids(subjects):
    return [s.pk for s in subjects]


class TestWhatIsNeverServed:
    def test_it_never_serves_a_voted_retired_or_excluded_subject(self, ranked, volunteer, other_volunteer):
        ordered = list(Subject.objects.filter(campaign=ranked).order_by("-priority"))
        vote(ranked, ordered[0], volunteer)
        Subject.objects.filter(pk=ordered[1].pk).update(retired=True)
        vote(ranked, ordered[3], other_volunteer)  # someone else's vote does not hide it from me
        served = next_subjects(
            campaign=ranked, volunteer=volunteer, n=5, exclude_ids=[ordered[2].pk], priority_window=1
        )
        assert ids(served) == [ordered[3].pk, ordered[4].pk, ordered[5].pk, ordered[6].pk, ordered[7].pk]

    def test_a_volunteer_classifying_everything_sees_each_subject_once(self, scientist, volunteer):
        campaign = make_campaign(
            scientist,
            make_alerts(30, stamps=False),
            slug="all",
            gold={0: "real", 1: "bogus"},
            gold_share=0.3,
            exploration_share=0.3,
            retire_after=50,
        )
        rng = random.Random(3)
        seen = []
        while batch := next_subjects(campaign=campaign, volunteer=volunteer, n=3, rng=rng):
            assert len({s.pk for s in batch}) == len(batch)
            vote(campaign, batch[0], volunteer)
            seen.append(batch[0].pk)
        assert sorted(seen) == sorted(Subject.objects.filter(campaign=campaign).values_list("pk", flat=True))

    def test_other_campaigns_subjects_are_never_served(self, ranked, scientist, volunteer):
        other = make_campaign(scientist, make_alerts(5, start=500, stamps=False), slug="other")
        served = next_subjects(campaign=ranked, volunteer=volunteer, n=20)
        assert not set(ids(served)) & set(other.subjects.values_list("pk", flat=True))
        assert {s.campaign_id for s in served} == {ranked.pk}


class TestOrder:
    def test_without_exploration_the_highest_priority_comes_first(self, ranked, volunteer):
        served = next_subjects(campaign=ranked, volunteer=volunteer, n=5, priority_window=1)
        assert [s.priority for s in served] == [100, 99, 98, 97, 96]
        assert {s.queue_source for s in served} == {"priority"}

    def test_the_top_of_the_queue_is_spread_over_concurrent_volunteers(self, ranked, volunteer):
        rng = random.Random(2)
        firsts = Counter(
            next_subjects(campaign=ranked, volunteer=volunteer, n=1, rng=rng)[0].priority for _ in range(600)
        )
        # Drawn from the best PRIORITY_WINDOW subjects only, each about equally often.
        assert set(firsts) == set(range(100, 100 - PRIORITY_WINDOW, -1))
        assert max(firsts.values()) < 2 * 600 / PRIORITY_WINDOW
        batch = next_subjects(campaign=ranked, volunteer=volunteer, n=5, rng=rng)
        assert [s.priority for s in batch] == sorted((s.priority for s in batch), reverse=True)

    def test_a_new_priority_changes_what_comes_next(self, ranked, volunteer):
        last = Subject.objects.filter(campaign=ranked).order_by("priority").first()
        Subject.objects.filter(pk=last.pk).update(priority=1000)
        assert next_subjects(campaign=ranked, volunteer=volunteer, n=1, priority_window=1)[0].pk == last.pk

    def test_random_order_wraps_around_from_its_start(self, scientist, volunteer):
        campaign = make_campaign(
            scientist, make_alerts(3, stamps=False), slug="tiny", exploration_share=1.0, gold_share=0.0
        )
        everything = set(campaign.subjects.values_list("pk", flat=True))
        for seed in range(30):
            served = next_subjects(campaign=campaign, volunteer=volunteer, n=3, rng=random.Random(seed))
            assert set(ids(served)) == everything

    def test_when_only_gold_is_left_it_is_served(self, scientist, volunteer):
        campaign = make_campaign(
            scientist, make_alerts(4, stamps=False), slug="goldleft", gold={2: "real", 3: "bogus"}, gold_share=0.1
        )
        for s in campaign.subjects.filter(gold_answer=""):
            vote(campaign, s, volunteer)
        served = next_subjects(campaign=campaign, volunteer=volunteer, n=5, rng=random.Random(0))
        assert sorted(s.gold_answer for s in served) == ["bogus", "real"]

    def test_nothing_left_gives_an_empty_list(self, scientist, volunteer):
        campaign = make_campaign(scientist, make_alerts(2, stamps=False), slug="done")
        for s in campaign.subjects.all():
            vote(campaign, s, volunteer)
        assert next_subjects(campaign=campaign, volunteer=volunteer, n=5) == []

    def test_it_takes_a_few_indexed_queries_whatever_the_mix(self, ranked, volunteer, django_assert_max_num_queries):
        ranked.gold_share, ranked.exploration_share = 0.3, 0.3
        with django_assert_max_num_queries(6):
            served = next_subjects(campaign=ranked, volunteer=volunteer, n=20, rng=random.Random(1), with_alert=True)
        with django_assert_max_num_queries(0):
            assert all(s.alert.candid for s in served)


class TestShares:
    """Over many single-subject requests the configured shares hold (binomial tolerance, about 4 sigma)."""

    REQUESTS = 1500

    def draw(self, campaign, volunteer, seed):
        rng = random.Random(seed)
        return [
            next_subjects(campaign=campaign, volunteer=volunteer, n=1, rng=rng, priority_window=1)[0]
            for _ in range(self.REQUESTS)
        ]

    def test_gold_and_exploration_shares_hold(self, ranked, volunteer):
        ranked.gold_share, ranked.exploration_share = 0.2, 0.3
        ranked.save()
        served = self.draw(ranked, volunteer, seed=11)
        top = Subject.objects.filter(campaign=ranked, gold_answer="").order_by("-priority").first()
        gold = sum(1 for s in served if s.gold_answer) / self.REQUESTS
        # Exploration may land on the top subject itself (1 chance in 90): not distinguishable, and rare.
        explored = sum(1 for s in served if not s.gold_answer and s.pk != top.pk) / self.REQUESTS
        assert abs(gold - 0.2) < 0.045, gold
        assert abs(explored - 0.3 * (1 - 1 / 90)) < 0.05, explored
        # Exploration really is random order: it reaches most of the pool, roughly evenly.
        explored_counts = Counter(s.pk for s in served if not s.gold_answer and s.pk != top.pk)
        assert len(explored_counts) > 70
        assert max(explored_counts.values()) < 20
        gold_counts = Counter(s.pk for s in served if s.gold_answer)
        assert len(gold_counts) == 10

    def test_zero_shares_serve_priority_only(self, ranked, volunteer):
        served = self.draw(ranked, volunteer, seed=5)[:200]
        assert {s.priority for s in served} == {100}

    def test_the_api_mixes_in_gold_at_the_configured_share(self, ranked, volunteer, api_for):
        ranked.gold_share = 0.25
        ranked.save()
        client = api_for(volunteer)
        gold_candids = {str(c) for c in ranked.subjects.exclude(gold_answer="").values_list("alert__candid", flat=True)}
        served = []
        for _ in range(60):
            r = client.get(f"/api/campaigns/{ranked.slug}/next/?n=10")
            served += [s["candid"] for s in r.json()["subjects"]]
        share = sum(1 for c in served if c in gold_candids) / len(served)
        assert abs(share - 0.25) < 0.07, share


class TestNextApi:
    def test_it_returns_cards_with_stamps_fields_and_links(self, ranked, volunteer, api_for):
        r = api_for(volunteer).get(f"/api/campaigns/{ranked.slug}/next/?n=2")
        assert r.status_code == 200
        body = r.json()
        assert body["exhausted"] is False
        card = body["subjects"][0]
        assert card["stamps"]["difference"] == f"/api/alerts/{card['candid']}/cutouts/difference.png"
        assert card["talk_url"] == f"/talk/alert/{card['candid']}/"
        assert card["alert_url"] == f"/alerts/{card['candid']}/"
        assert card["light_curve_url"].startswith(f"/api/alerts/{card['candid']}/")
        for field in ("magpsf", "sigmapsf", "filter", "fwhm", "elong", "classtar", "sgscore1", "distpsnr1"):
            assert field in card["fields"]
        for field in ("isdiffpos", "ssdistnr", "ndethist", "days_since_first_detection", "gal_b"):
            assert field in card["fields"]
        assert card["fields"]["days_since_first_detection"] == pytest.approx(10.0, abs=1.0)
        assert isinstance(card["candid"], str)  # beyond 2**53: a JavaScript number would round it
        assert "rb" not in card["fields"]
        assert "drb" not in card["fields"]
        assert "gold_answer" not in card  # never revealed before voting

    def test_each_card_carries_its_served_token_and_serving_writes_no_row(
        self, ranked, volunteer, other_volunteer, api_for
    ):
        from django.apps import apps

        from labeling.votes import served_token_valid

        def rows():
            return {m._meta.db_table: m.objects.count() for m in apps.get_app_config("labeling").get_models()}

        before = rows()
        cards = api_for(volunteer).get(f"/api/campaigns/{ranked.slug}/next/?n=3").json()["subjects"]
        assert rows() == before  # no writes on GET: the proof of serving is the signed token
        for card in cards:
            mine = {"campaign_id": ranked.pk, "subject_id": card["id"]}
            assert served_token_valid(card["served"], volunteer_id=volunteer.pk, **mine)
            assert not served_token_valid(card["served"], volunteer_id=other_volunteer.pk, **mine)

    def test_each_card_carries_the_active_models_verdict_and_explanation_links(self, ranked, volunteer, api_for):
        from classifiers.models import ModelVersion, Score

        assert api_for(volunteer).get(f"/api/campaigns/{ranked.slug}/next/?n=1").json()["subjects"][0]["model"] is None
        version = ModelVersion.objects.create(
            task="real_bogus", version=1, architecture="vgg6", status="active", weights=b"-", sha256="0" * 64
        )
        Score.objects.bulk_create(
            [
                Score(alert_id=alert_id, version=version, score=0.9)
                for alert_id in ranked.subjects.values_list("alert_id", flat=True)
            ]
        )
        card = api_for(volunteer).get(f"/api/campaigns/{ranked.slug}/next/?n=2").json()["subjects"][0]
        assert card["model"]["score"] == 0.9
        assert card["model"]["verdict"] == "real"
        assert set(card["model"]["explanations"]) == {"gradcam", "saliency"}

    def test_excluded_ids_are_not_returned(self, ranked, volunteer, api_for):
        first = api_for(volunteer).get(f"/api/campaigns/{ranked.slug}/next/?n=3").json()["subjects"]
        queued = ",".join(str(s["id"]) for s in first)
        second = api_for(volunteer).get(f"/api/campaigns/{ranked.slug}/next/?n=3&exclude={queued}").json()["subjects"]
        assert not {s["id"] for s in first} & {s["id"] for s in second}

    @pytest.mark.parametrize(
        ("query", "field"), [("n=0", "n"), ("n=abc", "n"), ("n=500", "n"), ("exclude=1,x", "exclude")]
    )
    def test_a_bad_query_is_named(self, ranked, volunteer, api_for, query, field):
        r = api_for(volunteer).get(f"/api/campaigns/{ranked.slug}/next/?{query}")
        assert r.status_code == 400
        assert r.json()["field"] == field

    def test_a_listed_campaign_refuses_others(self, ranked, volunteer, api_for):
        Campaign.objects.filter(pk=ranked.pk).update(access=Campaign.Access.LISTED)
        r = api_for(volunteer).get(f"/api/campaigns/{ranked.slug}/next/")
        assert r.status_code == 403
        assert "listed volunteers" in r.json()["detail"]

    def test_anonymous_users_are_refused(self, ranked, client):
        assert client.get(f"/api/campaigns/{ranked.slug}/next/").status_code in (401, 403)

    def test_an_unknown_campaign_is_404(self, volunteer, api_for, db):
        assert api_for(volunteer).get("/api/campaigns/nope/next/").status_code == 404


class TestOneObjectAtATime:
    """An object detected on several nights has one subject per alert, with near-equal priorities: they are not
    served back to back while other subjects are left."""

    @pytest.fixture
    def repeated(self, scientist):
        """30 subjects; the 4 best (priority 100..97) are alerts of one object, ZTF20abfcszi."""
        alerts = make_alerts(30, stamps=False)
        campaign = make_campaign(scientist, alerts, slug="repeated", gold_share=0.0, exploration_share=0.0)
        for i, s in enumerate(Subject.objects.filter(campaign=campaign).order_by("pk")):
            Subject.objects.filter(pk=s.pk).update(priority=100 - i)
        for alert in alerts[:4]:
            Alert.objects.filter(pk=alert.pk).update(object_id="ZTF20abfcszi")
        return campaign

    @staticmethod
    def objects(subjects):
        return [s.alert.object_id for s in subjects]

    def test_a_batch_holds_one_alert_per_object(self, repeated, volunteer):
        for window in (1, PRIORITY_WINDOW):
            served = next_subjects(campaign=repeated, volunteer=volunteer, n=5, priority_window=window, with_alert=True)
            objects = self.objects(served)
            assert len(served) == 5
            assert len(set(objects)) == 5, objects
        strict = next_subjects(campaign=repeated, volunteer=volunteer, n=3, priority_window=1, with_alert=True)
        assert [s.priority for s in strict] == [100, 96, 95]  # the best of the object, then the next objects

    def test_the_object_on_screen_is_not_served_again_next(self, repeated, volunteer):
        on_screen = Subject.objects.filter(campaign=repeated, priority=100).get()
        served = next_subjects(
            campaign=repeated, volunteer=volunteer, n=5, exclude_ids=[on_screen.pk], priority_window=1, with_alert=True
        )
        assert "ZTF20abfcszi" not in self.objects(served)

    def test_exploration_passes_over_an_object_already_picked(self, scientist, volunteer):
        alerts = make_alerts(12, stamps=False)
        campaign = make_campaign(scientist, alerts, slug="explore-one", gold_share=0.0, exploration_share=1.0)
        Alert.objects.filter(pk__in=[a.pk for a in alerts[:6]]).update(object_id="ZTF20abfcszi")
        for seed in range(20):
            served = next_subjects(
                campaign=campaign, volunteer=volunteer, n=4, rng=random.Random(seed), with_alert=True
            )
            assert self.objects(served).count("ZTF20abfcszi") == 1, seed

    def test_when_only_one_objects_alerts_are_left_they_are_still_served(self, repeated, volunteer):
        for s in repeated.subjects.select_related("alert").exclude(alert__object_id="ZTF20abfcszi"):
            vote(repeated, s, volunteer)
        served = next_subjects(campaign=repeated, volunteer=volunteer, n=5, with_alert=True)
        assert self.objects(served) == ["ZTF20abfcszi"] * 4

    def test_a_repeated_object_left_in_a_batch_is_kept_apart(self, repeated, volunteer):
        # Everything but the object's four alerts and one other subject is voted: a batch of three holds two of
        # the object's, and the other subject goes between them.
        keep = Subject.objects.filter(campaign=repeated, priority=80).get()
        for s in repeated.subjects.select_related("alert").exclude(alert__object_id="ZTF20abfcszi"):
            if s.pk != keep.pk:
                vote(repeated, s, volunteer)
        objects = self.objects(next_subjects(campaign=repeated, volunteer=volunteer, n=3, with_alert=True))
        assert objects[1] != "ZTF20abfcszi", objects
