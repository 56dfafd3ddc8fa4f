"""Who may open what: every URL pattern (pages, the API, the admin) for anonymous, volunteer, scientist,
ML lead and admin, against an explicit table. A new view without an entry here fails the suite.

Reading the table: each entry gives the status of a GET and of a POST (an empty JSON body, so a permitted
role gets past the guard and stops at validation: 400, or 405 where the view takes no POST), for
anonymous / volunteer / scientist / ML lead / admin, in that order. Anonymous page requests go to the
log-in page (302), anonymous API requests get 401; a signed-in user without the role gets 403.
"""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.settings import api_settings

from tests.security.rolematrix_world import ROLES, url_for
from tests.security.urlwalk import walk

# (GET, POST) for anon, volunteer, scientist, mllead, admin.
EXPECTED: dict[str, tuple[str, str]] = {
    # --- the API schema and docs are public
    "api-schema": ("200 200 200 200 200", "405 405 405 405 405"),
    "api-docs": ("200 200 200 200 200", "405 405 405 405 405"),
    "api-redoc": ("200 200 200 200 200", "405 405 405 405 405"),
    # --- alerts: every signed-in user reads them; nobody writes them through the API
    "api-alerts": ("401 200 200 200 200", "401 405 405 405 405"),
    "api-alert": ("401 200 200 200 200", "401 405 405 405 405"),
    "api-alert-lightcurve": ("401 200 200 200 200", "401 405 405 405 405"),
    "api-alert-lightcurve-plot": ("401 200 200 200 200", "401 405 405 405 405"),
    "api-alert-cutout": ("401 200 200 200 200", "401 405 405 405 405"),
    "api-alert-cutout-plane": ("401 200 200 200 200", "401 405 405 405 405"),
    "api-alert-scores": ("401 200 200 200 200", "401 405 405 405 405"),
    # No model is active in this world, so there is nothing to explain: 404 once past the guard.
    "api-alert-explanation": ("401 404 404 404 404", "401 405 405 405 405"),
    # --- campaigns: volunteers read the ones open to them; scientists (and admins) build and inspect
    "api-campaigns": ("401 200 200 200 200", "401 403 400 403 400"),
    "api-campaign-preview": ("401 403 405 403 405", "401 403 200 403 200"),
    "api-campaign": ("401 200 200 200 200", "401 403 405 403 405"),
    "api-campaign-state": ("401 403 405 403 405", "401 403 400 403 400"),
    "api-campaign-add-matching": ("401 403 405 403 405", "401 403 400 403 400"),
    "api-campaign-tutorial": ("401 200 200 200 200", "401 403 400 403 400"),
    "api-campaign-tutorial-step": ("401 403 405 403 405", "401 403 405 403 405"),
    "api-campaign-field-guide": ("401 200 200 200 200", "401 403 400 403 400"),
    "api-campaign-field-guide-entry": ("401 403 405 403 405", "401 403 405 403 405"),
    "api-campaign-subjects": ("401 403 200 403 200", "401 403 405 403 405"),
    "api-campaign-subject-votes": ("401 403 200 403 200", "401 403 405 403 405"),
    "api-campaign-gold": ("401 403 405 403 405", "401 403 400 403 400"),
    "api-campaign-dashboard": ("401 403 200 403 200", "401 403 405 403 405"),
    "api-campaign-export": ("401 403 200 403 200", "401 403 405 403 405"),
    # --- classifying: every signed-in user, in campaigns open to them
    "classify-next": ("401 200 200 200 200", "401 405 405 405 405"),
    "classify-vote": ("401 405 405 405 405", "401 400 400 400 400"),
    "classify-progress": ("401 200 200 200 200", "401 405 405 405 405"),
    "classify-tutorial-seen": ("401 405 405 405 405", "401 200 200 200 200"),
    # --- Talk
    "talk-thread-api": ("401 200 200 200 200", "401 400 400 400 400"),
    "talk-recent-api": ("401 200 200 200 200", "401 405 405 405 405"),
    # --- the model registry, training, the console and the loop: ML leads and admins only
    "api-model-versions": ("401 403 403 200 200", "401 403 403 405 405"),
    "api-model-version": ("401 403 403 200 200", "401 403 403 405 405"),
    "api-model-promote": ("401 403 403 405 405", "401 403 403 400 400"),
    "api-model-rollback": ("401 403 403 405 405", "401 403 403 400 400"),
    "api-model-train": ("401 403 403 405 405", "401 403 403 400 400"),
    "api-training-run": ("401 403 403 200 200", "401 403 403 405 405"),
    "api-training-run-events": ("401 403 403 200 200", "401 403 403 405 405"),
    "api-reference-sets": ("401 403 403 200 200", "401 403 403 400 400"),
    "api-reference-set": ("401 403 403 405 405", "401 403 403 405 405"),
    "api-console-compare": ("401 403 403 400 400", "401 403 403 405 405"),
    "api-console-slices": ("401 403 403 400 400", "401 403 403 405 405"),
    "api-console-disagreements": ("401 403 403 200 200", "401 403 403 405 405"),
    "api-console-disagreements-send": ("401 403 403 405 405", "401 403 403 400 400"),
    "api-console-drift": ("401 403 403 200 200", "401 403 403 405 405"),
    "api-console-drift-flagged": ("401 403 403 200 200", "401 403 403 405 405"),
    "api-console-drift-night": ("401 403 403 200 200", "401 403 403 405 405"),
    "api-loop": ("401 403 403 200 200", "401 403 403 405 405"),
    "api-loop-retrain": ("401 403 403 405 405", "401 403 403 400 400"),
    "api-loop-runs": ("401 403 403 200 200", "401 403 403 405 405"),
    "api-loop-run": ("401 403 403 200 200", "401 403 403 405 405"),
    "api-loop-reorder": ("401 403 403 405 405", "401 403 403 202 202"),
    # --- pages: accounts
    "home": ("302 200 200 200 200", "302 200 200 200 200"),
    "login": ("200 302 302 302 302", "200 302 302 302 302"),
    "logout": ("405 405 405 405 405", "302 302 302 302 302"),
    "signup": ("200 302 302 302 302", "200 302 302 302 302"),
    # --- pages: every signed-in user
    "alert": ("302 200 200 200 200", "302 200 200 200 200"),
    "classify": ("302 200 200 200 200", "302 200 200 200 200"),
    "talk": ("302 200 200 200 200", "302 200 200 200 200"),
    "talk-thread": ("302 200 200 200 200", "302 400 400 400 400"),
    # An object's Talk page forwards to the thread of its latest alert.
    "talk-object": ("302 302 302 302 302", "302 302 302 302 302"),
    "talk-tag": ("302 200 200 200 200", "302 200 200 200 200"),
    # --- pages: scientists (and admins)
    "campaigns-manage": ("302 403 200 403 200", "302 403 200 403 200"),
    "campaigns-new": ("302 403 200 403 200", "302 403 200 403 200"),
    "campaigns-edit": ("302 403 200 403 200", "302 403 200 403 200"),
    "campaigns-inspect": ("302 403 200 403 200", "302 403 200 403 200"),
    "campaigns-subject": ("302 403 200 403 200", "302 403 200 403 200"),
    "campaigns-subject-gold": ("302 403 405 403 405", "302 403 302 403 302"),
    "campaigns-dashboard": ("302 403 200 403 200", "302 403 405 403 405"),
    # --- pages: ML leads (and admins)
    "ml-loop": ("302 403 403 200 200", "302 403 403 405 405"),
    "console": ("302 403 403 200 200", "302 403 403 405 405"),
    "console-versions": ("302 403 403 200 200", "302 403 403 405 405"),
    # Without two versions picked, compare forwards to the versions list.
    "console-compare": ("302 403 403 302 302", "302 403 403 405 405"),
    # Promote and roll back need a reason: an empty form goes back to the versions page, unchanged.
    "console-promote": ("302 403 403 405 405", "302 403 403 302 302"),
    "console-fine-tune": ("302 403 403 405 405", "302 403 403 302 302"),
    "console-rollback": ("302 403 403 405 405", "302 403 403 302 302"),
    "console-reference-sets": ("302 403 403 200 200", "302 403 403 405 405"),
    "console-reference-set-create": ("302 403 403 405 405", "302 403 403 302 302"),
    "console-reference-set-delete": ("302 403 403 405 405", "302 403 403 302 302"),
    "console-slices": ("302 403 403 200 200", "302 403 403 405 405"),
    "console-disagreements": ("302 403 403 200 200", "302 403 403 405 405"),
    "console-disagreements-send": ("302 403 403 405 405", "302 403 403 302 302"),
    "console-drift": ("302 403 403 200 200", "302 403 403 405 405"),
    "console-drift-night": ("302 403 403 200 200", "302 403 403 405 405"),
}

# The admin site keeps its own guard (staff only): by rule rather than entry by entry.
ADMIN_RULE = "anonymous and non-staff users go to the admin log-in page; the admin gets the page"


def _clients(world) -> dict[str, Client]:
    clients = {}
    for role, user in world["users"].items():
        c = Client()
        if user is not None:
            c.force_login(user)
        clients[role] = c
    return clients


def _expected(text: str) -> dict[str, int]:
    return dict(zip(ROLES, (int(x) for x in text.split()), strict=True))


def _routes():
    return [r for r in walk() if not r.is_admin]


def _each_role_at_each_url(clients: dict[str, Client], world, routes):
    """(route, url, role, that role's client) for every route in ``routes``, every role in turn."""
    for r in routes:
        url = url_for(r, world)
        for role in ROLES:
            yield r, url, role, clients[role]


# ---------------------------------------------------------------- structure: no view without a guard


def test_every_route_has_an_entry_in_the_table():
    missing = sorted(r.key for r in _routes() if r.key not in EXPECTED)
    assert missing == [], f"new views need a line in EXPECTED (tests/security/test_role_matrix.py): {missing}"
    stale = sorted(set(EXPECTED) - {r.key for r in _routes()})
    assert stale == [], f"EXPECTED names views that no longer exist: {stale}"


def test_every_page_view_declares_its_roles_or_says_it_is_public():
    bare = [
        r.route
        for r in _routes()
        if not r.is_drf
        and not getattr(r.callback, "blink_roles", None)
        and not getattr(r.callback, "blink_public", False)
    ]
    assert bare == [], f"page views without @role_required(...) or @public: {bare}"


def test_every_api_view_sets_its_own_permission_classes():
    defaulted = []
    for r in _routes():
        if not r.is_drf or getattr(r.callback, "blink_public", False):
            continue
        cls = r.view_class
        if cls.permission_classes is api_settings.DEFAULT_PERMISSION_CLASSES or not cls.permission_classes:
            defaulted.append(r.route)
    assert defaulted == [], f"API views relying on the default permission (set permission_classes): {defaulted}"


def test_public_views_are_the_few_meant_to_be():
    public = sorted(r.key for r in _routes() if getattr(r.callback, "blink_public", False))
    assert public == ["api-docs", "api-redoc", "api-schema", "login", "logout", "signup"]


# ---------------------------------------------------------------- the matrix itself


@pytest.mark.django_db
def test_every_url_answers_each_role_as_the_table_says(world):
    clients = _clients(world)
    wrong = []
    checked = 0
    for r, url, role, client in _each_role_at_each_url(clients, world, _routes()):
        want_get, want_post = (_expected(t) for t in EXPECTED[r.key])
        got = client.get(url).status_code
        checked += 1
        if got != want_get[role]:
            wrong.append(f"GET  {url} as {role}: {got}, expected {want_get[role]}")
        if r.name == "logout":
            continue  # posted last, below: it ends the session
        got = client.post(url, {}, content_type="application/json").status_code
        checked += 1
        if got != want_post[role]:
            wrong.append(f"POST {url} as {role}: {got}, expected {want_post[role]}")
    for role in ROLES:
        got = clients[role].post("/accounts/logout/").status_code
        checked += 1
        if got != _expected(EXPECTED["logout"][1])[role]:
            wrong.append(f"POST /accounts/logout/ as {role}: {got}")
    assert wrong == [], "\n".join(wrong)
    assert checked > 5 * 2 * 70


@pytest.mark.django_db
def test_anonymous_page_requests_go_to_the_login_page_and_api_requests_get_json(world):
    c = Client()
    for r in _routes():
        if getattr(r.callback, "blink_public", False):
            continue
        url = url_for(r, world)
        response = c.get(url)
        if r.is_api:
            assert response.status_code == 401, url
            assert response["Content-Type"].startswith("application/json"), url
            assert response.json()["detail"], url
        else:
            assert response.status_code == 302, url
            assert response["Location"].startswith("/accounts/login/?next="), url


@pytest.mark.django_db
def test_the_admin_site_is_for_staff_only(world):
    admin_routes = [r for r in walk() if r.is_admin and r.name not in ("admin:login", "admin:logout")]
    wrong = []
    checked = 0
    for _, url, role, client in _each_role_at_each_url(_clients(world), world, admin_routes):
        response = client.get(url)
        checked += 1
        if role == "admin":
            # 403 where the admin site itself offers nothing (read-only models, autocomplete without a field)
            if response.status_code not in (200, 302, 403, 404) or (
                response.status_code == 302 and "/admin/login/" in response["Location"]
            ):
                wrong.append(f"{url} as admin: {response.status_code}")
        elif response.status_code != 302 or "/admin/login/" not in response["Location"]:
            wrong.append(f"{url} as {role}: {response.status_code} {response.get('Location', '')}")
    assert wrong == [], ADMIN_RULE + "\n" + "\n".join(wrong)
    assert checked > 5 * 40
