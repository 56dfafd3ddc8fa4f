"""Object-level rules behind the role guards: volunteers see only the campaigns open to them and never other
people's votes, scientists edit only their own campaigns, only ML leads and admins act on models, and each
websocket admits only the roles it serves."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.security.rolematrix_world import ROLES, build_role_world


@pytest.mark.django_db
def test_a_volunteer_sees_only_the_campaigns_open_to_them(world, volunteer, other_volunteer, client_for):
    from labeling.models import Vote

    private = world["private"]
    subject = private.subjects.get()
    c = client_for(volunteer)
    listed = c.get("/api/campaigns/").json()
    slugs = {item["slug"] for item in (listed["results"] if isinstance(listed, dict) else listed)}
    assert "demo-real-bogus" in slugs
    assert private.slug not in slugs
    assert "Private" not in c.get("/").content.decode()
    assert c.get(f"/api/campaigns/{private.slug}/").status_code in (403, 404)
    assert c.get(f"/api/campaigns/{private.slug}/tutorial/").status_code in (403, 404)
    assert c.get(f"/api/campaigns/{private.slug}/next/").status_code in (403, 404)
    assert c.get(f"/classify/{private.slug}/").status_code in (403, 404)
    vote = {"subject": subject.pk, "answer": "real", "idempotency_key": "3b9a6f8e-2c1d-4e5f-8a7b-6c5d4e3f2a10"}
    assert c.post(f"/api/campaigns/{private.slug}/votes/", vote, content_type="application/json").status_code == 403
    assert not Vote.objects.filter(subject=subject).exists()

    # Once listed, the same volunteer may classify there.
    private.volunteers.add(volunteer)
    served = c.get(f"/api/campaigns/{private.slug}/next/")
    assert served.status_code == 200
    vote["served"] = next(card["served"] for card in served.json()["subjects"] if card["id"] == subject.pk)
    assert c.post(f"/api/campaigns/{private.slug}/votes/", vote, content_type="application/json").status_code == 201


@pytest.mark.django_db
def test_a_volunteer_never_sees_other_peoples_votes(world, live_campaign, volunteer, other_volunteer, client_for):
    from labeling.votes import vote_record

    subject = world["subject"]
    vote_record(campaign=live_campaign, subject_id=subject.pk, volunteer=other_volunteer, answer="bogus",
                idempotency_key="11111111-2222-4333-8444-555555555555")  # fmt: skip
    c = client_for(volunteer)
    assert c.get(f"/api/campaigns/{live_campaign.slug}/subjects/{subject.pk}/votes/").status_code == 403
    assert c.get(f"/api/campaigns/{live_campaign.slug}/subjects/").status_code == 403
    assert c.get(f"/campaigns/manage/{live_campaign.slug}/subjects/{subject.pk}/").status_code == 403
    assert c.get(f"/api/campaigns/{live_campaign.slug}/exports/zooniverse/").status_code == 403
    # Nothing a volunteer reads about the subject before voting names the other voter or the tally.
    for url in (
        f"/api/campaigns/{live_campaign.slug}/next/?n=10",
        f"/api/alerts/{subject.alert.candid}/",
        f"/alerts/{subject.alert.candid}/",
        f"/classify/{live_campaign.slug}/",
        f"/api/campaigns/{live_campaign.slug}/",
    ):
        response = c.get(url)
        assert response.status_code == 200, url
        text = response.content.decode()
        assert other_volunteer.username not in text, url
        leak = re.search(
            r'"(majority_label|majority_fraction|n_votes|weighted_label|weighted_posterior)"|"votes":\s*[\[{]', text
        )
        assert leak is None, f"{url} shows {leak.group(0) if leak else ''}"


@pytest.mark.django_db
def test_a_scientist_edits_only_their_own_campaigns(world, live_campaign, other_scientist, client_for):
    from labeling.backups import table_fingerprints

    c = client_for(other_scientist)
    slug = live_campaign.slug
    before = table_fingerprints()
    attempts = [
        ("patch", f"/api/campaigns/{slug}/", {"name": "Taken over"}),
        ("delete", f"/api/campaigns/{slug}/", None),
        ("post", f"/api/campaigns/{slug}/state/", {"state": "paused"}),
        ("post", f"/api/campaigns/{slug}/add-matching/", {}),
        ("post", f"/api/campaigns/{slug}/tutorial/", {"title": "x", "text": "y"}),
        ("patch", f"/api/campaigns/{slug}/tutorial/{world['step'].pk}/", {"title": "x"}),
        ("delete", f"/api/campaigns/{slug}/tutorial/{world['step'].pk}/", None),
        ("delete", f"/api/campaigns/{slug}/field-guide/{world['entry'].pk}/", None),
        ("post", f"/api/campaigns/{slug}/gold/", {"answers": {str(world["subject"].pk): "real"}}),
        ("get", f"/api/campaigns/{slug}/subjects/", None),
        ("get", f"/api/campaigns/{slug}/dashboard/", None),
        ("get", f"/api/campaigns/{slug}/exports/zooniverse/", None),
        ("get", f"/campaigns/manage/{slug}/edit/", None),
        ("get", f"/campaigns/manage/{slug}/inspect/", None),
        ("post", f"/campaigns/manage/{slug}/subjects/{world['subject'].pk}/gold/", {"answer": "real"}),
    ]
    for method, url, body in attempts:
        kwargs = {"content_type": "application/json"} if body is not None and url.startswith("/api/") else {}
        response = getattr(c, method)(url, body, **kwargs) if body is not None else getattr(c, method)(url)
        assert response.status_code in (403, 404), f"{method.upper()} {url}: {response.status_code}"
    assert table_fingerprints() == before

    # Added as a collaborator, the same scientist may edit it.
    live_campaign.collaborators.add(other_scientist)
    ok = c.patch(f"/api/campaigns/{slug}/", {"description": "Now shared"}, content_type="application/json")
    assert ok.status_code == 200, ok.content


@pytest.mark.django_db
def test_only_ml_leads_and_admins_train_promote_and_roll_back(world, client_for, volunteer, scientist, mllead):
    from classifiers.models import ModelVersion, RegistryEvent, TrainingRun

    version = world["version"]
    attempts = [
        ("/api/models/train/", {"task": "real_bogus"}),
        ("/api/loop/retrain/", {"campaign": "demo-real-bogus"}),
        (f"/api/models/versions/{version.pk}/promote/", {"reason": "looks better"}),
        ("/api/models/rollback/", {"task": "real_bogus", "reason": "regression"}),
        (f"/ml/versions/{version.pk}/promote/", {"reason": "looks better"}),
        ("/ml/tasks/real_bogus/rollback/", {"reason": "regression"}),
    ]
    n_runs, n_events = TrainingRun.objects.count(), RegistryEvent.objects.count()
    for user in (volunteer, scientist):
        c = client_for(user)
        for url, body in attempts:
            ct = {"content_type": "application/json"} if url.startswith("/api/") else {}
            assert c.post(url, body, **ct).status_code == 403, (user.username, url)
    assert TrainingRun.objects.count() == n_runs
    assert RegistryEvent.objects.count() == n_events
    assert ModelVersion.objects.get(pk=version.pk).status == "candidate"

    # The ML lead gets past the guard (what happens next is the registry's business and its own tests').
    c = client_for(mllead)
    response = c.post(f"/api/models/versions/{version.pk}/promote/", {"reason": "reviewed"},
                      content_type="application/json")  # fmt: skip
    assert response.status_code != 403
    assert ModelVersion.objects.get(pk=version.pk).status == ("active" if response.status_code == 200 else "candidate")


@pytest.mark.django_db(transaction=True)
def test_websockets_admit_only_the_roles_they_serve(
    live_campaign, scientist, other_scientist, volunteer, mllead, admin_user, demo_alerts
):
    import asyncio

    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    world = build_role_world(
        live_campaign=live_campaign, demo_alerts=demo_alerts, scientist=scientist, other_scientist=other_scientist,
        volunteer=volunteer, mllead=mllead, admin_user=admin_user,
    )  # fmt: skip
    cookies = {}
    for role, user in world["users"].items():
        c = Client()
        if user is not None:
            c.force_login(user)
            cookies[role] = c.cookies["sessionid"].value

    async def connects(path: str, role: str) -> bool:
        headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
        if role in cookies:
            headers.append((b"cookie", f"sessionid={cookies[role]}".encode()))
        communicator = WebsocketCommunicator(application, path, headers=headers)
        try:
            connected, _ = await communicator.connect(timeout=10)
        finally:
            await communicator.disconnect()
        return connected

    expected = {
        "/ws/training/": {"anon": False, "volunteer": False, "scientist": False, "mllead": True, "admin": True},
        f"/ws/campaigns/{live_campaign.slug}/": {
            "anon": False, "volunteer": True, "scientist": True, "mllead": True, "admin": True,
        },
        # Listed volunteers, the owner and collaborators only (as for votes: an admin is not listed here).
        f"/ws/campaigns/{world['private'].slug}/": {
            "anon": False, "volunteer": False, "scientist": False, "mllead": False, "admin": False,
        },
    }  # fmt: skip
    from frontend.routing import websocket_urlpatterns

    assert len(websocket_urlpatterns) == 2, "a new websocket route needs a line in `expected` here"
    got = {path: {role: asyncio.run(connects(path, role)) for role in ROLES} for path in expected}
    assert got == expected
