"""Request bodies and uploads over the limits are refused before anything reads them, with a clear 400 or 413."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client, override_settings

from core.conf import blink_setting


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
    with override_settings(BLINK={**settings.BLINK, "MAX_UPLOAD_BYTES": 64 * 1024}):
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
    assert 0 < blink_setting("MAX_UPLOAD_BYTES") <= 100 * 1024 * 1024
    assert "frontend.middleware.RequestSizeLimitMiddleware" in settings.MIDDLEWARE
