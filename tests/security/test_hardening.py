"""Django's deployment checklist, CSRF, the Content-Security-Policy, log-in lock-out and request-size limits."""

from __future__ import annotations

import os
import re
import runpy
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings

from tests.security.urlwalk import walk

ROOT = Path(settings.BASE_DIR)
TEMPLATES_DIR = ROOT / "frontend" / "templates"


def _prod_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(DJANGO_SETTINGS_MODULE="config.production", **extra)
    return env


# ---------------------------------------------------------------- deployment checklist


def test_check_deploy_is_clean_under_the_production_settings():
    env = _prod_env(DJANGO_SECRET_KEY=secrets.token_urlsafe(64), DJANGO_ALLOWED_HOSTS="blink.example.org")
    run = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues" in run.stdout


def test_production_refuses_to_start_without_a_real_secret_key():
    env = _prod_env(DJANGO_ALLOWED_HOSTS="blink.example.org")
    run = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode != 0
    assert "ImproperlyConfigured" in run.stderr
    assert "DJANGO_SECRET_KEY" in run.stderr


@pytest.mark.parametrize(
    "key",
    ["", "short-key", "blink-insecure-development-key-do-not-use-in-production", "a" * 60],
    ids=["empty", "short", "development-key", "one-character-repeated"],
)
def test_production_settings_reject_weak_secret_keys(monkeypatch, key):
    monkeypatch.setenv("DJANGO_SECRET_KEY", key)
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "blink.example.org")
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        runpy.run_path(str(ROOT / "config" / "production.py"))


def test_production_settings_need_explicit_allowed_hosts(monkeypatch):
    monkeypatch.setenv("DJANGO_SECRET_KEY", secrets.token_urlsafe(64))
    monkeypatch.delenv("DJANGO_ALLOWED_HOSTS", raising=False)
    with pytest.raises(ImproperlyConfigured, match="DJANGO_ALLOWED_HOSTS"):
        runpy.run_path(str(ROOT / "config" / "production.py"))


def test_production_settings_are_secure(monkeypatch):
    monkeypatch.setenv("DJANGO_SECRET_KEY", secrets.token_urlsafe(64))
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "blink.example.org")
    prod = runpy.run_path(str(ROOT / "config" / "production.py"))
    assert prod["DEBUG"] is False
    assert prod["SESSION_COOKIE_SECURE"] is True
    assert prod["CSRF_COOKIE_SECURE"] is True
    assert prod["SESSION_COOKIE_HTTPONLY"] is True
    assert prod["SECURE_HSTS_SECONDS"] >= 31536000
    assert prod["ALLOWED_HOSTS"] == ["blink.example.org"]
    assert prod["CSRF_TRUSTED_ORIGINS"] == ["https://blink.example.org"]


def test_the_base_settings_refuse_the_development_key_when_debug_is_off(monkeypatch):
    monkeypatch.setenv("DJANGO_DEBUG", "0")
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        runpy.run_path(str(ROOT / "config" / "settings.py"))
    monkeypatch.setenv("DJANGO_SECRET_KEY", secrets.token_urlsafe(64))
    assert runpy.run_path(str(ROOT / "config" / "settings.py"))["DEBUG"] is False


# ---------------------------------------------------------------- CSRF


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
    r = c.post(url, payload, content_type="application/json", headers={"Authorization": f"Token {token.key}"})
    assert r.status_code in (200, 201), r.content
    assert Vote.objects.filter(volunteer=volunteer).count() == 1


# ---------------------------------------------------------------- Content-Security-Policy


def _script_src(header: str) -> list[str]:
    for directive in header.split(";"):
        parts = directive.split()
        if parts and parts[0] == "script-src":
            return parts[1:]
    return []


def _assert_strict_csp(response, where: str) -> None:
    header = response.get("Content-Security-Policy")
    assert header, f"{where}: no Content-Security-Policy header"
    sources = _script_src(header) or next(
        (d.split()[1:] for d in header.split(";") if d.split()[:1] == ["default-src"]), []
    )
    assert sources, f"{where}: CSP has neither script-src nor default-src: {header}"
    assert "'unsafe-inline'" not in sources, f"{where}: script-src allows inline script: {header}"
    assert "'unsafe-eval'" not in sources, f"{where}: script-src allows eval: {header}"
    assert "*" not in sources, f"{where}: script-src allows any origin: {header}"


@pytest.mark.django_db
def test_every_html_page_without_arguments_sends_a_strict_csp(admin_user):
    """Every page route that needs no URL argument, fetched as an admin (who may open them all)."""
    c = Client()
    c.force_login(admin_user)
    checked = []
    for r in walk():
        if r.converters or r.is_regex or r.is_drf and r.route == "api/schema/":
            continue
        response = c.get("/" + r.route)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        _assert_strict_csp(response, "/" + r.route)
        checked.append(r.route)
    # The login page, the home page, the API docs and the admin at the least.
    assert {"", "api/docs/", "admin/"} <= set(checked), checked


@pytest.mark.django_db
def test_the_anonymous_pages_send_a_strict_csp():
    c = Client()
    for url in ("/accounts/login/", "/accounts/signup/"):
        response = c.get(url)
        assert response.status_code == 200
        _assert_strict_csp(response, url)


@pytest.mark.django_db
def test_the_api_docs_page_loads_its_script_from_a_url_not_inline(volunteer):
    c = Client()
    c.force_login(volunteer)
    page = c.get("/api/docs/").content.decode()
    assert not _inline_scripts(page), "Swagger UI must not inline its start-up script"
    script = re.search(r'<script src="([^"]*script[^"]*)"', page)
    assert script, page
    js = c.get(script.group(1).replace("&amp;", "&"))
    assert js.status_code == 200
    assert "javascript" in js["Content-Type"]


_SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
_TAG = re.compile(r"<[a-zA-Z][^<>]*>", re.DOTALL)
_EVENT_ATTR = re.compile(r"""[\s"'/]on[a-z]+\s*=""", re.IGNORECASE)
_JS_URL = re.compile(r"""(?:href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def _inline_scripts(html: str) -> list[str]:
    found = []
    for m in _SCRIPT_TAG.finditer(html):
        attrs = m.group(1)
        if re.search(r"\bsrc\s*=", attrs, re.IGNORECASE):
            continue
        if re.search(r"""\btype\s*=\s*["']?application/(ld\+)?json""", attrs, re.IGNORECASE):
            continue
        found.append(m.group(0))
    return found


def _template_files() -> list[Path]:
    return sorted(TEMPLATES_DIR.rglob("*.html"))


def test_the_template_scanner_catches_what_it_should():
    hostile = (
        '<script>alert(1)</script><div onclick="x()"></div><a href="javascript:x()">'
        '<img src=x onerror=alert(1)><script type="text/javascript">y()</script>'
    )
    assert len(_inline_scripts(hostile)) == 2
    assert len([t for t in _TAG.findall(hostile) if _EVENT_ATTR.search(t)]) == 2
    assert _JS_URL.search(hostile)
    benign = (
        '<script src="/static/x.js"></script><script type="application/json" id="d">{}</script>'
        '<p>Done &amp; Talk: one=two</p><button data-on="x" class="btn-online">Go</button>'
    )
    assert _inline_scripts(benign) == []
    assert [t for t in _TAG.findall(benign) if _EVENT_ATTR.search(t)] == []


def test_no_template_has_inline_script_or_event_handler_attributes():
    problems = []
    for path in _template_files():
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT)
        for tag in _inline_scripts(text):
            problems.append(f"{rel}: inline script {tag!r}")
        for tag in _TAG.findall(text):
            if _EVENT_ATTR.search(tag):
                problems.append(f"{rel}: event-handler attribute in {tag[:120]!r}")
        if _JS_URL.search(text):
            problems.append(f"{rel}: javascript: URL")
    assert _template_files(), f"no templates found under {TEMPLATES_DIR}"
    assert problems == [], "\n".join(problems)


# ---------------------------------------------------------------- log-in lock-out (django-axes)


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
    _assert_strict_csp(right, "lock-out page")


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


# ---------------------------------------------------------------- request-size limits


def _row_counts() -> dict[str, int]:
    from django.apps import apps

    return {m._meta.label: m.objects.count() for m in apps.get_models() if not m._meta.label.startswith("axes.")}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/campaigns/demo-real-bogus/votes/", "application/json"),
        ("/api/alerts/", "application/json"),
        ("/accounts/signup/", "application/x-www-form-urlencoded"),
        ("/accounts/login/", "application/x-www-form-urlencoded"),
    ],
)
def test_a_huge_request_body_is_refused_before_anything_reads_it(volunteer, path, content_type):
    c = Client()
    c.force_login(volunteer)
    before = _row_counts()
    body = b'{"answer": "' + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024) + b'"}'
    r = c.generic("POST", path, body, content_type=content_type)
    assert r.status_code == 413, (path, r.status_code, r.content[:200])
    assert "over the limit" in r.content.decode()
    assert _row_counts() == before


@pytest.mark.django_db
def test_a_multipart_upload_over_the_upload_limit_is_refused(volunteer):
    c = Client()
    c.force_login(volunteer)
    with override_settings(BLINK_MAX_UPLOAD_BYTES=64 * 1024):
        body = b"--b\r\nContent-Disposition: form-data; name=f; filename=a.avro\r\n\r\n" + b"0" * 100_000 + b"\r\n--b--"
        r = c.generic("POST", "/api/alerts/", body, content_type="multipart/form-data; boundary=b")
    assert r.status_code == 413
    assert r.json()["detail"].startswith("Request body of")


@pytest.mark.django_db
def test_a_nonsense_content_length_is_a_clear_400(volunteer):
    c = Client()
    c.force_login(volunteer)
    r = c.generic("POST", "/api/alerts/", b"{}", content_type="application/json", CONTENT_LENGTH="lots")
    assert r.status_code == 400
    assert "Content-Length" in r.json()["detail"]


def test_upload_limits_are_set():
    assert 0 < settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= 10 * 1024 * 1024
    assert 0 < settings.FILE_UPLOAD_MAX_MEMORY_SIZE <= 10 * 1024 * 1024
    assert 0 < settings.BLINK_MAX_UPLOAD_BYTES <= 100 * 1024 * 1024
    assert "frontend.middleware.RequestSizeLimitMiddleware" in settings.MIDDLEWARE


def test_every_post_form_in_the_templates_carries_its_csrf_token():
    """Forms posted by the browser need {% csrf_token %} inside them (JS-driven forms send the token in a
    header from the cookie or the page's csrf holder, and are checked by the API tests)."""
    missing = []
    for path in _template_files():
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"<form\b([^>]*)>(.*?)</form>", text, re.DOTALL | re.IGNORECASE):
            attrs, body = m.group(1), m.group(2)
            if re.search(r"""method\s*=\s*["']?post""", attrs, re.IGNORECASE) and "{% csrf_token %}" not in body:
                missing.append(f"{path.relative_to(ROOT)}: <form{attrs[:80]}>")
    assert missing == [], "\n".join(missing)


@pytest.mark.django_db
def test_a_page_form_posted_without_its_csrf_token_is_refused(volunteer, live_campaign):
    from labeling.models import Comment

    alert = live_campaign.subjects.first().alert
    c = Client(enforce_csrf_checks=True)
    c.force_login(volunteer)
    r = c.post(f"/talk/alert/{alert.candid}/", {"body": "forged from another site"})
    assert r.status_code == 403
    assert not Comment.objects.exists()
