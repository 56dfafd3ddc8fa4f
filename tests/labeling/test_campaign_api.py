"""The campaign API: permissions first, then the builder's round trip, inspect, gold, dashboard, exports."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from labeling.models import Campaign, Vote
from tests.labeling.campaign_helpers import bare_alerts, cast, make_volunteers

pytestmark = pytest.mark.django_db


def body(response) -> dict:
    return json.loads(response.content)


@pytest.fixture
def draft(scientist):
    from labeling.campaigns.services import campaign_create

    bare_alerts(30)
    return campaign_create(actor=scientist, name="Draft one", selection={"fid": 1})


# --------------------------------------------------------------------------------------------- permissions


def test_an_anonymous_request_gets_401(api_for):
    assert api_for(None).get("/api/campaigns/").status_code == 401
    assert api_for(None).post("/api/campaigns/", {"name": "x"}, format="json").status_code == 401


def test_a_volunteer_cannot_create_a_campaign(api_for, volunteer):
    response = api_for(volunteer).post("/api/campaigns/", {"name": "Mine"}, format="json")
    assert response.status_code == 403
    assert not Campaign.objects.exists()


def test_a_volunteer_cannot_preview_filters(api_for, volunteer):
    assert api_for(volunteer).post("/api/campaign-filters/preview/", {}, format="json").status_code == 403


def test_a_scientist_cannot_edit_another_scientists_campaign(api_for, draft, other_scientist, scientist):
    response = api_for(other_scientist).patch(f"/api/campaigns/{draft.slug}/", {"name": "Mine now"}, format="json")
    assert response.status_code == 403
    for url, data in (
        (f"/api/campaigns/{draft.slug}/state/", {"state": "live"}),
        (f"/api/campaigns/{draft.slug}/tutorial/", {"title": "t", "text": "x"}),
        (f"/api/campaigns/{draft.slug}/field-guide/", {"title": "t", "text": "x"}),
    ):
        assert api_for(other_scientist).post(url, data, format="json").status_code == 403
    assert api_for(other_scientist).delete(f"/api/campaigns/{draft.slug}/").status_code == 403
    draft.refresh_from_db()
    assert draft.name == "Draft one"
    assert draft.state == "draft"
    assert (
        api_for(scientist).patch(f"/api/campaigns/{draft.slug}/", {"name": "Renamed"}, format="json").status_code == 200
    )


def test_volunteers_see_only_campaigns_open_to_them(api_for, scientist, volunteer, other_volunteer, draft):
    from labeling.campaigns.services import campaign_create, campaign_set_state

    open_one = campaign_create(actor=scientist, name="Open")
    listed = campaign_create(actor=scientist, name="Listed", access="listed", volunteers=[other_volunteer.username])
    for c in (open_one, listed):
        campaign_set_state(actor=scientist, campaign=c, state="live")
    seen = {c["slug"] for c in body(api_for(volunteer).get("/api/campaigns/"))}
    assert seen == {open_one.slug}
    assert {c["slug"] for c in body(api_for(other_volunteer).get("/api/campaigns/"))} == {open_one.slug, listed.slug}
    assert api_for(volunteer).get(f"/api/campaigns/{draft.slug}/").status_code == 403
    assert api_for(volunteer).get(f"/api/campaigns/{listed.slug}/").status_code == 403
    detail = body(api_for(other_volunteer).get(f"/api/campaigns/{listed.slug}/"))
    assert detail["volunteers"] == []  # who else is listed is not a volunteer's business
    assert detail["can_manage"] is False
    assert body(api_for(scientist).get(f"/api/campaigns/{listed.slug}/"))["volunteers"] == [other_volunteer.username]


def test_volunteers_never_see_other_peoples_votes(api_for, live_campaign, volunteer, other_volunteer, other_scientist):
    subject = live_campaign.subjects.first()
    cast(live_campaign, subject, other_volunteer, "real")
    url = f"/api/campaigns/{live_campaign.slug}/subjects/{subject.pk}/votes/"
    assert api_for(volunteer).get(url).status_code == 403
    assert api_for(other_volunteer).get(url).status_code == 403
    assert api_for(other_scientist).get(url).status_code == 403
    for path in ("subjects/", "dashboard/", "exports/zooniverse/", "exports/consensus-csv/"):
        assert api_for(volunteer).get(f"/api/campaigns/{live_campaign.slug}/{path}").status_code == 403


# ---------------------------------------------------------------------------------------------- builder


def test_preview_counts_and_lists_stamps_before_saving(api_for, scientist):
    bare_alerts(40)
    selection = {"rb": {"gte": 0.1, "lt": 0.3}, "fid": 2}
    response = api_for(scientist).post(
        "/api/campaign-filters/preview/", {"selection": selection, "n": 4}, format="json"
    )
    assert response.status_code == 200
    data = body(response)
    assert data["count"] == 10  # rb = i/100 for i in 10..29, every second one in fid 2
    assert data["summary"] == "0.1 ≤ rb < 0.3, fid = 2 (r)"
    assert len(data["alerts"]) == 4
    assert all(a["stamp_url"] == f"/api/alerts/{a['candid']}/cutouts/difference.png" for a in data["alerts"])
    sampled = body(
        api_for(scientist).post(
            "/api/campaign-filters/preview/",
            {"selection": selection, "sample_size": 3, "sample_seed": 1},
            format="json",
        )
    )
    assert sampled["count"] == 3
    assert len(sampled["alerts"]) == 3
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    ("selection", "field"),
    [
        ({"rb": {"gt": 0.4, "lt": 0.2}}, "rb"),
        ({"nope": 1}, "nope"),
        ({"programid": "one"}, "programid"),
        ({"isdiffpos": "yes"}, "isdiffpos"),
    ],
)
def test_an_invalid_preview_names_the_field(api_for, scientist, selection, field):
    response = api_for(scientist).post("/api/campaign-filters/preview/", {"selection": selection}, format="json")
    assert response.status_code == 400
    assert body(response)["field"] == field


def test_the_builder_round_trip(api_for, scientist, volunteer):
    alerts = bare_alerts(30)
    api = api_for(scientist)
    created = api.post(
        "/api/campaigns/",
        {
            "name": "Low rb, r band",
            "description": "Which of these are real?",
            "question_type": "custom",
            "classes": [
                {"key": "sn", "label": "Supernova", "shortcut": "1"},
                {"key": "junk", "label": "Junk", "shortcut": "2"},
            ],
            "selection": {"fid": 2, "rb": {"lt": 0.2}},
            "retire_after": 4,
            "retire_agree_k": 3,
            "retire_agree_fraction": 0.75,
            "gold_share": 0.2,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    slug = body(created)["slug"]
    assert body(created)["selection_summary"] == "fid = 2 (r), rb < 0.2"
    bad = api.post("/api/campaigns/", {"name": "X", "retire_after": 3, "retire_agree_k": 9}, format="json")
    assert bad.status_code == 400
    assert body(bad)["field"] == "retire_agree_k"

    step = api.post(
        f"/api/campaigns/{slug}/tutorial/",
        {"title": "Look at the centre", "text": "The difference image", "example_candid": alerts[1].candid},
        format="json",
    )
    assert step.status_code == 201
    assert body(step)["example_stamps"]["difference"].endswith("/difference.png")
    entry = api.post(
        f"/api/campaigns/{slug}/field-guide/",
        {"title": "Supernova", "text": "On a galaxy", "answer": "sn", "example_candids": [alerts[3].candid]},
        format="json",
    )
    assert entry.status_code == 201
    assert body(entry)["example_candids"] == [alerts[3].candid]
    assert api.post(f"/api/campaigns/{slug}/field-guide/", {"title": "x"}, format="json").status_code == 400

    live = api.post(f"/api/campaigns/{slug}/state/", {"state": "live"}, format="json")
    assert live.status_code == 200
    assert body(live)["state"] == "live"
    assert body(live)["n_subjects"] == 10
    again = api.patch(f"/api/campaigns/{slug}/", {"selection": {"fid": 1}}, format="json")
    assert again.status_code == 400
    assert body(again)["field"] == "selection"

    # The volunteer now sees it, with its tutorial and field guide.
    assert slug in {c["slug"] for c in body(api_for(volunteer).get("/api/campaigns/"))}
    assert [s["title"] for s in body(api_for(volunteer).get(f"/api/campaigns/{slug}/tutorial/"))] == [
        "Look at the centre"
    ]
    assert body(api_for(volunteer).get(f"/api/campaigns/{slug}/field-guide/"))[0]["answer"] == "sn"

    step_id = body(step)["id"]
    assert api.patch(f"/api/campaigns/{slug}/tutorial/{step_id}/", {"order": 3}, format="json").status_code == 200
    assert api.delete(f"/api/campaigns/{slug}/tutorial/{step_id}/").status_code == 204
    assert api.post(f"/api/campaigns/{slug}/state/", {"state": "paused"}, format="json").status_code == 200
    assert api.post(f"/api/campaigns/{slug}/state/", {"state": "draft"}, format="json").status_code == 400

    bare_alerts(4, start=9_300_000_000_000, rb=0.05)  # 2 in fid 2
    added = api.post(f"/api/campaigns/{slug}/add-matching/", {}, format="json")
    assert body(added) == {"added": 2, "subjects": 12}


# ------------------------------------------------------------------------------------- inspect and exports


@pytest.fixture
def voted(live_campaign, django_user_model):
    people = make_volunteers(django_user_model, 3)
    subjects = list(live_campaign.subjects.order_by("alert__candid")[:6])
    answers = [["real", "real", "real"], ["real", "bogus", "bogus"], ["bogus", "skip"], ["real"], [], []]
    for subject, votes in zip(subjects, answers, strict=True):
        for person, answer in zip(people, votes, strict=False):
            cast(live_campaign, subject, person, answer)
    return live_campaign, subjects, people


def test_inspect_lists_counts_consensus_and_retirement_filterable_and_sortable(api_for, scientist, voted):
    campaign, subjects, _ = voted
    api = api_for(scientist)
    page = body(api.get(f"/api/campaigns/{campaign.slug}/subjects/?sort=-votes&page_size=3"))
    assert page["count"] == campaign.subjects.count()
    top = page["results"]
    assert [r["n_votes"] for r in top] == [3, 3, 1]
    first = next(r for r in top if r["id"] == subjects[0].pk)
    assert first["counts"] == {"real": 3, "bogus": 0, "skip": 0}
    assert first["majority_label"] == "real"
    assert first["majority_fraction"] == 1.0
    assert first["retired"] is True  # retire_after = 3
    assert first["stamp_url"].endswith("/cutouts/difference.png")
    retired = body(api.get(f"/api/campaigns/{campaign.slug}/subjects/?retired=true"))
    assert {r["id"] for r in retired["results"]} == {subjects[0].pk, subjects[1].pk}
    bogus = body(api.get(f"/api/campaigns/{campaign.slug}/subjects/?label=bogus"))
    assert {r["id"] for r in bogus["results"]} == {subjects[1].pk, subjects[2].pk}
    skip_row = next(r for r in bogus["results"] if r["id"] == subjects[2].pk)
    assert skip_row["counts"] == {"real": 0, "bogus": 1, "skip": 1}
    bad = api.get(f"/api/campaigns/{campaign.slug}/subjects/?sort=evil")
    assert bad.status_code == 400
    assert body(bad)["field"] == "sort"


def test_the_subject_page_lists_every_vote_for_the_campaigns_scientist(api_for, scientist, voted):
    campaign, subjects, people = voted
    data = body(api_for(scientist).get(f"/api/campaigns/{campaign.slug}/subjects/{subjects[1].pk}/votes/"))
    assert [(v["volunteer"], v["answer"]) for v in data["votes"]] == [
        (people[0].username, "real"),
        (people[1].username, "bogus"),
        (people[2].username, "bogus"),
    ]
    assert data["subject"]["majority_label"] == "bogus"


def test_gold_marking_is_all_or_nothing(api_for, scientist, voted):
    campaign, subjects, _ = voted
    url = f"/api/campaigns/{campaign.slug}/gold/"
    ok = api_for(scientist).post(
        url, {"subjects": [{"subject": subjects[4].pk, "answer": "bogus", "note": "a ghost"}]}, format="json"
    )
    assert ok.status_code == 200
    subjects[4].refresh_from_db()
    assert subjects[4].gold_answer == "bogus"
    assert subjects[4].gold_note == "a ghost"
    bad = api_for(scientist).post(
        url,
        {"subjects": [{"subject": subjects[5].pk, "answer": "real"}, {"subject": subjects[3].pk, "answer": "maybe"}]},
        format="json",
    )
    assert bad.status_code == 400
    assert body(bad)["field"] == "gold_answer"
    subjects[5].refresh_from_db()
    assert subjects[5].gold_answer == ""


def test_the_dashboard_reports_progress_agreement_and_a_leaderboard(api_for, scientist, voted):
    campaign, _, people = voted
    data = body(api_for(scientist).get(f"/api/campaigns/{campaign.slug}/dashboard/"))
    assert data["classifications"] == 9
    assert data["skips"] == 1
    assert data["retired"] == 2
    assert data["volunteers"] == 3
    assert data["active_volunteers_7d"] == 3
    assert sum(d["classifications"] for d in data["per_day"]) == 9
    assert data["answers"] == {"real": 5, "bogus": 3, "skip": 1}
    assert data["leaderboard"][0]["username"] == people[0].username
    assert data["leaderboard"][0]["classifications"] == 4
    # mean of 1.0, 2/3 over subjects with at least 2 votes
    assert data["mean_agreement"] == pytest.approx((1.0 + 2 / 3) / 2, abs=1e-4)


def test_exports_stream_and_read_back(api_for, scientist, voted):
    campaign, _, _ = voted
    api = api_for(scientist)
    response = api.get(f"/api/campaigns/{campaign.slug}/exports/zooniverse/")
    assert response.status_code == 200
    assert response.streaming
    assert 'filename="demo-real-bogus-classifications.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == Vote.objects.filter(campaign=campaign).count() == 9
    consensus = api.get(f"/api/campaigns/{campaign.slug}/exports/consensus-json/?method=majority")
    labels = json.loads(b"".join(consensus.streaming_content))["labels"]
    assert len(labels) == 4
    npz = api.get(f"/api/campaigns/{campaign.slug}/exports/npz/?method=majority")
    assert npz.status_code == 200
    with np.load(io.BytesIO(b"".join(npz.streaming_content))) as data:
        assert data["stamps"].shape == (4, 63, 63, 3)
    assert api.get(f"/api/campaigns/{campaign.slug}/exports/evil/").status_code == 404
    assert api.get(f"/api/campaigns/{campaign.slug}/exports/consensus-csv/?method=vibes").status_code == 400


def test_the_schema_documents_the_campaign_api(api_for, scientist):
    response = api_for(scientist).get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = json.loads(response.content)["paths"]
    for expected in (
        "/api/campaigns/",
        "/api/campaigns/{slug}/",
        "/api/campaign-filters/preview/",
        "/api/campaigns/{slug}/state/",
        "/api/campaigns/{slug}/subjects/",
        "/api/campaigns/{slug}/subjects/{id}/votes/",
        "/api/campaigns/{slug}/gold/",
        "/api/campaigns/{slug}/dashboard/",
        "/api/campaigns/{slug}/exports/{kind}/",
        "/api/campaigns/{slug}/tutorial/",
        "/api/campaigns/{slug}/field-guide/{id}/",
    ):
        assert expected in paths


def test_inspect_shows_the_active_models_score_and_sorts_by_it(api_for, scientist, live_campaign):
    from classifiers.models import ModelVersion, Score

    old = ModelVersion.objects.create(
        task="real_bogus", version=1, architecture="vgg6", status="retired", weights=b"x", sha256="0" * 64
    )
    active = ModelVersion.objects.create(
        task="real_bogus", version=2, architecture="vgg6", status="active", weights=b"y", sha256="1" * 64
    )
    subjects = list(live_campaign.subjects.select_related("alert").order_by("alert__candid")[:3])
    for i, subject in enumerate(subjects):
        Score.objects.create(alert=subject.alert, version=active, score=0.1 + 0.4 * i)
        Score.objects.create(alert=subject.alert, version=old, score=0.99)  # a retired version's score is not shown
    rows = body(api_for(scientist).get(f"/api/campaigns/{live_campaign.slug}/subjects/?sort=-score&page_size=4"))[
        "results"
    ]
    assert [r["id"] for r in rows[:3]] == [subjects[2].pk, subjects[1].pk, subjects[0].pk]
    assert [r["model_score"] for r in rows[:3]] == pytest.approx([0.9, 0.5, 0.1])
    assert rows[3]["model_score"] is None  # unscored subjects sort last
