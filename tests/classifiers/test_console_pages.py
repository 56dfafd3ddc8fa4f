"""The ML console pages: who reaches them, promote and roll back with the audit entry, what each page shows."""

from __future__ import annotations

import re

import pytest

from classifiers.models import ModelVersion, RegistryEvent
from labeling.models import Campaign, Subject
from tests.classifiers.console_helpers import world_fixture


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    yield from world_fixture(django_db_blocker)


@pytest.fixture(autouse=True)
def _db(db, settings):
    """Every test runs in its own transaction, rolled back after it, on top of the module's world. Users
    made here need no slow password hashing: nobody logs in with a password."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


PAGES = [
    "/ml/",
    "/ml/versions/",
    "/ml/compare/?a={v2}&b={v3}",
    "/ml/slices/",
    "/ml/disagreements/",
    "/ml/drift/",
    "/ml/drift/2026-07-05/",
]
POSTS = ["/ml/versions/{v3}/promote/", "/ml/tasks/real_bogus/rollback/", "/ml/disagreements/send/"]


def urls(world, templates):
    return [t.format(v2=world["v2"].pk, v3=world["v3"].pk) for t in templates]


def test_ml_leads_and_admins_open_every_page(world, client_for, mllead, admin_user):
    for user in (mllead, admin_user):
        client = client_for(user)
        for url in urls(world, PAGES):
            assert client.get(url).status_code == 200, (user.username, url)


def test_volunteers_and_scientists_are_refused_and_anonymous_visitors_sent_to_log_in(
    world, client_for, volunteer, scientist
):
    for url in urls(world, PAGES) + urls(world, POSTS):
        for user in (volunteer, scientist):
            client = client_for(user)
            response = client.post(url, {"reason": "x"}) if url in urls(world, POSTS) else client.get(url)
            assert response.status_code == 403, (user.username, url)
        anonymous = client_for(None).get(url)
        assert anonymous.status_code == 302, url
        assert anonymous["Location"].startswith("/accounts/login/"), url
    assert ModelVersion.objects.get(status="active") == world["v2"]  # nobody changed anything


def test_promoting_from_the_page_records_who_and_why(world, client_for, mllead):
    client = client_for(mllead)
    response = client.post(
        f"/ml/versions/{world['v3'].pk}/promote/",
        {"reason": "v3 finds faint real candidates v2 misses", "next": "/ml/versions/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/ml/versions/"
    assert ModelVersion.objects.get(status="active") == world["v3"]
    event = RegistryEvent.objects.filter(action="promote").latest("at")
    assert (event.version, event.previous_active, event.actor) == (world["v3"], world["v2"], mllead)
    assert event.reason == "v3 finds faint real candidates v2 misses"
    page = client.get("/ml/versions/").content.decode()
    assert "v3 finds faint real candidates v2 misses" in page
    assert "is now the active" in page


def test_a_promotion_without_a_reason_changes_nothing(world, client_for, mllead):
    client = client_for(mllead)
    client.post(f"/ml/versions/{world['v3'].pk}/promote/", {"reason": "   "})
    assert ModelVersion.objects.get(status="active") == world["v2"]
    assert not RegistryEvent.objects.filter(version=world["v3"]).exists()
    page = client.get("/ml/versions/").content.decode()
    assert "was not promoted: a reason is required" in page


def test_rolling_back_from_the_page_restores_the_previous_version_with_an_audit_entry(world, client_for, mllead):
    client = client_for(mllead)
    response = client.post("/ml/tasks/real_bogus/rollback/", {"reason": "v2 misclassifies faint candidates"})
    assert response.status_code == 302
    assert ModelVersion.objects.get(status="active") == world["v1"]
    event = RegistryEvent.objects.get(action="rollback")
    assert (event.version, event.previous_active, event.actor) == (world["v1"], world["v2"], mllead)
    assert event.reason == "v2 misclassifies faint candidates"
    assert "v2 misclassifies faint candidates" in client.get("/ml/").content.decode()


def test_rollback_without_a_reason_is_refused(world, client_for, mllead):
    client_for(mllead).post("/ml/tasks/real_bogus/rollback/", {"reason": ""})
    assert ModelVersion.objects.get(status="active") == world["v2"]
    assert not RegistryEvent.objects.filter(action="rollback").exists()


def test_versions_page_lists_every_version_with_status_parent_size_and_metrics(world, client_for, mllead):
    page = client_for(mllead).get("/ml/versions/").content.decode()
    table = page[page.index("versions-table") :]
    for label in ("v1", "v2", "v3"):
        assert f"<strong>{label}</strong>" in table
    assert "status-active" in table
    assert "status-candidate" in table
    assert "status-retired" in table
    assert "real_bogus v2" in table  # v3's parent
    assert "0.970" in table  # v3's held-out accuracy


def test_compare_page_shows_curves_deltas_with_intervals_and_changed_candidates(world, client_for, mllead):
    response = client_for(mllead).get(f"/ml/compare/?a={world['v2'].pk}&b={world['v3'].pk}")
    page = response.content.decode()
    assert "500 labelled candidates: 60 from volunteer consensus (retired subjects); 440 from demo truth" in page
    assert 'id="roc-json"' in page
    assert 'id="pr-json"' in page
    deltas = page[page.index('id="deltas"') : page.index("Confusion matrices")]
    assert deltas.count("B better") >= 3  # accuracy, ROC AUC, FNR at least
    assert re.search(r"\[\+0\.\d{3}, \+0\.\d{3}\]", deltas)  # an interval above zero
    assert page.count('class="cand"') == 12
    assert "truly real" in page
    assert "called bogus" in page


def test_compare_refuses_versions_of_two_tasks(world, client_for, mllead):
    from tests.classifiers.console_helpers import make_version

    streak = make_version(task="streaks", version=1)
    response = client_for(mllead).get(f"/ml/compare/?a={world['v2'].pk}&b={streak.pk}", follow=True)
    assert "answer different tasks" in response.content.decode()


def test_slices_page_highlights_the_faint_slice(world, client_for, mllead):
    page = client_for(mllead).get(f"/ml/slices/?version={world['v2'].pk}").content.decode()
    assert "from volunteer consensus" in page
    assert "from demo truth" in page
    rows = re.findall(r'<tr class="(worse|)" data-slice="([^"]+)"', page)
    worse = {name for cls, name in rows if cls == "worse"}
    assert "≥ 20" in worse
    assert "18–19" not in worse


def test_disagreements_show_the_confident_contradictions_and_go_to_gold_review(world, client_for, mllead):
    client = client_for(mllead)
    # Sending subjects changes the campaign: its scientist has invited this ML lead as a collaborator.
    Campaign.objects.get(slug="night-review").collaborators.add(mllead)
    page = client.get("/ml/disagreements/?campaign=night-review").content.decode()
    shown = [int(x) for x in re.findall(r'name="subject" value="(\d+)"', page)]
    assert shown
    v2 = world["scores_v2"]
    for subject in Subject.objects.filter(pk__in=shown).select_related("alert"):
        called_real = v2[subject.alert_id] >= 0.5
        assert called_real != (subject.majority_label == "real")
    response = client.post(
        "/ml/disagreements/send/",
        {"task": "real_bogus", "subject": shown[:2], "target": "gold", "campaign": "night-review"},
    )
    assert response.status_code == 302
    for subject in Subject.objects.filter(pk__in=shown[:2]):
        assert subject.gold_answer == ""
        assert subject.gold_note.startswith("Needs an expert answer (sent from the ML console by mia")
        assert "real_bogus v2 scored" in subject.gold_note
    assert "Sent 2 candidate(s)" in client.get("/ml/disagreements/").content.decode()


def test_disagreements_filter_by_class(world, client_for, mllead):
    page = client_for(mllead).get("/ml/disagreements/?label=bogus").content.decode()
    shown = [int(x) for x in re.findall(r'name="subject" value="(\d+)"', page)]
    assert shown
    assert set(Subject.objects.filter(pk__in=shown).values_list("majority_label", flat=True)) == {"bogus"}


def test_disagreements_go_to_a_new_draft_campaign_owned_by_a_scientist(world, client_for, mllead, scientist):
    client = client_for(mllead)
    subjects = list(Subject.objects.order_by("pk")[:3])
    client.post(
        "/ml/disagreements/send/",
        {
            "task": "real_bogus",
            "subject": [s.pk for s in subjects],
            "target": "new",
            "name": "Expert review: v2 vs volunteers",
            "owner": scientist.username,
        },
    )
    campaign = Campaign.objects.get(name="Expert review: v2 vs volunteers")
    assert campaign.state == "draft"
    assert campaign.owner == scientist
    assert sorted(campaign.selection["candid"]) == sorted(s.alert.candid for s in subjects)
    assert "sent from the ML console by mia" in campaign.description


def test_a_new_campaign_needs_a_scientist_owner(world, client_for, mllead, volunteer):
    client = client_for(mllead)
    response = client.post(
        "/ml/disagreements/send/",
        {"task": "real_bogus", "subject": [Subject.objects.first().pk], "target": "new", "name": "X", "owner": "vera"},
        follow=True,
    )
    assert "must be a scientist or an admin" in response.content.decode()
    assert not Campaign.objects.filter(name="X").exists()


def test_drift_page_reads_stored_nights_and_marks_the_flagged_one(
    world, client_for, mllead, django_assert_max_num_queries
):
    client = client_for(mllead)
    with django_assert_max_num_queries(20):
        page = client.get("/ml/drift/").content.decode()
    assert "1 night flagged" in page
    for name in ("score", "fwhm", "magpsf", "elong", "sgscore1"):
        assert f'id="drift-{name}-json"' in page
    flagged_row = page[page.index('href="/ml/drift/2026-07-05/') :]
    assert "Seeing FWHM" in flagged_row.split("</tr>")[0]
    detail = client.get("/ml/drift/2026-07-05/").content.decode()
    assert "Flagged" in detail
    assert "Seeing FWHM (pixels): PSI" in detail
    nid = (world["days"][4] - __import__("datetime").date(2017, 1, 1)).days
    assert client.get(f"/ml/drift/{nid}/").status_code == 200
    assert client.get("/ml/drift/2026-07-04/").content.decode().count("Not flagged") == 1
    assert client.get("/ml/drift/not-a-night/").status_code == 404


def test_console_pages_carry_no_inline_script(world, client_for, mllead):
    client = client_for(mllead)
    for url in urls(world, PAGES):
        page = client.get(url).content.decode()
        for tag in re.findall(r"<script[^>]*>", page):
            assert "src=" in tag or 'type="application/json"' in tag, (url, tag)
