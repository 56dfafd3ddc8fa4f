"""Repeated failed log-ins lock an account (django-axes), per account and address, until a success resets the count."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from tests.security.csp_checks import assert_strict_csp


@pytest.fixture
def fast_hashing():
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.mark.django_db
def test_repeated_failed_logins_lock_the_account_even_for_the_right_password(fast_hashing):
    get_user_model().objects.create_user(username="lena", password="the-right-password-42")
    c = Client()
    limit = settings.AXES_FAILURE_LIMIT
    for i in range(limit - 1):
        r = c.post("/accounts/login/", {"username": "lena", "password": f"wrong-{i}"})
        assert r.status_code == 200, f"attempt {i + 1} already locked"
        assert "_auth_user_id" not in c.session
    locked = c.post("/accounts/login/", {"username": "lena", "password": "wrong-last"})
    assert locked.status_code == 429
    right = c.post("/accounts/login/", {"username": "lena", "password": "the-right-password-42"})
    assert right.status_code == 429
    assert "_auth_user_id" not in c.session
    page = right.content.decode()
    assert "Too many failed log-ins" in page
    assert "locked" in page
    assert_strict_csp(right, "lock-out page")


@pytest.mark.django_db
def test_a_lockout_is_per_account_and_address(fast_hashing):
    get_user_model().objects.create_user(username="lena", password="the-right-password-42")
    get_user_model().objects.create_user(username="omar", password="another-password-42")
    c = Client()
    for i in range(settings.AXES_FAILURE_LIMIT):
        c.post("/accounts/login/", {"username": "lena", "password": f"wrong-{i}"})
    ok = c.post("/accounts/login/", {"username": "omar", "password": "another-password-42"})
    assert ok.status_code == 302
    assert c.session["_auth_user_id"]


@pytest.mark.django_db
def test_a_successful_login_resets_the_failure_count(fast_hashing):
    get_user_model().objects.create_user(username="lena", password="the-right-password-42")
    c = Client()
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        c.post("/accounts/login/", {"username": "lena", "password": f"wrong-{i}"})
    assert c.post("/accounts/login/", {"username": "lena", "password": "the-right-password-42"}).status_code == 302
    c.logout()
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        assert c.post("/accounts/login/", {"username": "lena", "password": f"again-{i}"}).status_code == 200
