"""Every state-changing request needs its CSRF token, except API calls authenticated by token."""

from __future__ import annotations

import pytest
from django.test import Client

from labeling.votes import served_token
from tests.security.urlwalk import walk


def test_no_page_view_is_csrf_exempt():
    """DRF marks its views csrf_exempt and enforces CSRF itself in SessionAuthentication; any other view
    that opts out of CSRF would accept a forged form post."""
    exempt = [r.route for r in walk() if not r.is_drf and not r.is_admin and getattr(r.callback, "csrf_exempt", False)]
    assert exempt == []


def test_every_api_view_authenticates_only_in_csrf_checked_ways():
    from rest_framework.authentication import SessionAuthentication, TokenAuthentication

    allowed = (SessionAuthentication, TokenAuthentication)
    bad = []
    for r in walk():
        if not r.is_drf:
            continue
        for auth in r.view_class().get_authenticators():
            # A subclass of SessionAuthentication that overrides enforce_csrf is the classic way to lose CSRF.
            if not isinstance(auth, allowed) or (
                isinstance(auth, SessionAuthentication)
                and type(auth).enforce_csrf is not SessionAuthentication.enforce_csrf
            ):
                bad.append((r.route, type(auth).__name__))
    assert bad == []


@pytest.mark.django_db
def test_the_logout_form_needs_its_csrf_token(volunteer):
    c = Client(enforce_csrf_checks=True)
    c.force_login(volunteer)
    assert c.post("/accounts/logout/").status_code == 403
    assert c.get("/").status_code == 200  # still logged in


@pytest.mark.django_db
def test_a_session_authenticated_api_post_without_the_csrf_token_is_refused(live_campaign, volunteer):
    from labeling.models import Vote

    subject = live_campaign.subjects.first()
    url = f"/api/campaigns/{live_campaign.slug}/votes/"
    payload = {"subject": subject.pk, "answer": "real", "idempotency_key": "5f0c6f4e-9a51-4c3a-8d64-0d3c9b1f2a77"}
    payload["served"] = served_token(volunteer=volunteer, subject=subject)  # as the classify page fetched it
    c = Client(enforce_csrf_checks=True)
    c.force_login(volunteer)
    if c.options(url).status_code == 404:
        pytest.skip("the vote API (labeling/api/classify.py) has not landed yet")
    refused = c.post(url, payload, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert Vote.objects.count() == 0

    # The same request with the token the page would send goes through.
    c.get("/")
    token = c.cookies["csrftoken"].value
    ok = c.post(url, payload, content_type="application/json", headers={"X-CSRFToken": token})
    assert ok.status_code in (200, 201), ok.content
    assert Vote.objects.count() == 1


@pytest.mark.django_db
def test_token_authenticated_api_calls_need_no_csrf_token(live_campaign, volunteer):
    """Scripts use tokens, which a forged cross-site request cannot carry, so CSRF does not apply."""
    from rest_framework.authtoken.models import Token

    from labeling.models import Vote

    url = f"/api/campaigns/{live_campaign.slug}/votes/"
    c = Client(enforce_csrf_checks=True)
    token = Token.objects.create(user=volunteer)
    if c.options(url, headers={"Authorization": f"Token {token.key}"}).status_code == 404:
        pytest.skip("the vote API (labeling/api/classify.py) has not landed yet")
    subject = live_campaign.subjects.first()
    payload = {"subject": subject.pk, "answer": "bogus", "idempotency_key": "0a7f7f2e-1b1c-4b7e-9a0f-4d1e2c3b4a59"}
    payload["served"] = served_token(volunteer=volunteer, subject=subject)  # as the script's next/ call gave it
    r = c.post(url, payload, content_type="application/json", headers={"Authorization": f"Token {token.key}"})
    assert r.status_code in (200, 201), r.content
    assert Vote.objects.filter(volunteer=volunteer).count() == 1


@pytest.mark.django_db
def test_a_page_form_posted_without_its_csrf_token_is_refused(volunteer, live_campaign):
    from labeling.models import Comment

    alert = live_campaign.subjects.first().alert
    c = Client(enforce_csrf_checks=True)
    c.force_login(volunteer)
    r = c.post(f"/talk/alert/{alert.candid}/", {"body": "forged from another site"})
    assert r.status_code == 403
    assert not Comment.objects.exists()
