"""HTTP through the ASGI application daphne serves (config.asgi): the whole middleware chain still runs, in one
thread per request, and a vote made through it is stored once."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from labeling.models import Vote
from tests.labeling.classify_helpers import make_alerts, make_campaign

pytestmark = pytest.mark.django_db(transaction=True)


def asgi_app():
    from config.asgi import django_asgi_app

    return django_asgi_app


def request(method: str, path: str, *, body: bytes = b"", headers: list | None = None) -> dict:
    comm = HttpCommunicator(asgi_app(), method, path, body=body, headers=headers or [])
    return async_to_sync(comm.get_response)(timeout=30)


def session_cookie(user) -> tuple[bytes, bytes]:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    csrf = "c" * 32
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session.session_key}; csrftoken={csrf}".encode()), (
        b"x-csrftoken",
        csrf.encode(),
    )


def header(response: dict, name: bytes) -> bytes | None:
    return next((v for k, v in response["headers"] if k.lower() == name), None)


def test_the_chain_is_built_sync_and_entered_once():
    app = asgi_app()
    # One sync_to_async around the whole chain: its hooks do not each hop threads.
    assert type(app._middleware_chain).__name__ == "SyncToAsync"
    assert app._middleware_chain.func.__name__ == "inner"


def test_anonymous_api_request_is_refused_with_every_middleware_header():
    response = request("GET", "/api/campaigns/nope/next/", headers=[(b"host", b"localhost")])
    assert response["status"] == 401
    assert json.loads(response["body"])["detail"]
    assert header(response, b"x-frame-options") == b"DENY"  # XFrameOptionsMiddleware ran
    assert header(response, b"x-content-type-options") == b"nosniff"  # SecurityMiddleware ran
    assert header(response, b"content-security-policy")  # CSPMiddleware ran


def test_oversized_body_is_refused_before_the_view():
    big = str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1).encode()
    response = request(
        "POST",
        "/api/campaigns/nope/votes/",
        headers=[(b"host", b"localhost"), (b"content-length", big), (b"content-type", b"application/json")],
    )
    assert response["status"] == 413


def test_next_and_vote_through_asgi_store_the_vote_once(scientist, volunteer):
    campaign = make_campaign(scientist, make_alerts(3, stamps=False), slug="asgi")
    cookie, csrf = session_cookie(volunteer)
    base = [(b"host", b"localhost"), cookie, (b"accept", b"application/json")]
    served = request("GET", f"/api/campaigns/{campaign.slug}/next/?n=1", headers=base)
    assert served["status"] == 200, served["body"]
    card = json.loads(served["body"])["subjects"][0]
    subject = card["id"]
    vote = {"subject": subject, "answer": "real", "idempotency_key": str(uuid.uuid4()), "served": card["served"]}
    body = json.dumps(vote).encode()
    post = [*base, csrf, (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    first = request("POST", f"/api/campaigns/{campaign.slug}/votes/", body=body, headers=post)
    again = request("POST", f"/api/campaigns/{campaign.slug}/votes/", body=body, headers=post)
    assert (first["status"], again["status"]) == (201, 200), (first["body"], again["body"])
    assert Vote.objects.filter(subject_id=subject, volunteer=volunteer).count() == 1
    assert threading.active_count() < 50  # per-request threads end with their requests


def test_requests_reuse_the_threads_of_earlier_requests(volunteer):
    app = asgi_app()
    cookie, _ = session_cookie(volunteer)
    headers = [(b"host", b"localhost"), cookie, (b"accept", b"application/json")]
    request("GET", "/api/campaigns/none/next/?n=1", headers=headers)
    kept = list(app._idle_threads)
    assert kept, "a finished request gives its thread back"
    for _ in range(5):
        assert request("GET", "/api/campaigns/none/next/?n=1", headers=headers)["status"] == 404
    # One request at a time: each took a kept thread and gave it back, so no new thread was made.
    assert sorted(map(id, app._idle_threads)) == sorted(map(id, kept))


def test_a_reused_thread_keeps_no_database_connection_between_requests(volunteer):
    from django.db import connections

    app = asgi_app()
    cookie, _ = session_cookie(volunteer)
    headers = [(b"host", b"localhost"), cookie, (b"accept", b"application/json")]
    assert request("GET", "/api/campaigns/none/next/?n=1", headers=headers)["status"] == 404
    executor = app._idle_threads[-1]
    # request_finished ran on the request's own thread and closed its connection (CONN_MAX_AGE=0 in tests).
    assert executor.submit(lambda: connections["default"].connection is None).result(timeout=10)


def test_startup_objects_are_frozen_out_of_full_collections():
    import gc

    asgi_app()
    assert gc.get_freeze_count() > 50_000


def test_threads_beyond_the_idle_cap_end_after_a_burst():
    from concurrent.futures import ThreadPoolExecutor

    from config import asgi

    app = asgi_app()
    saved = list(app._idle_threads)
    try:
        app._idle_threads[:] = [ThreadPoolExecutor(1) for _ in range(asgi.MAX_IDLE_REQUEST_THREADS)]
        extra = ThreadPoolExecutor(1)
        app._release(extra)
        assert len(app._idle_threads) == asgi.MAX_IDLE_REQUEST_THREADS
        assert extra not in app._idle_threads
        with pytest.raises(RuntimeError):  # shut down: it takes no more work
            extra.submit(int)
    finally:
        for executor in app._idle_threads:
            executor.shutdown(wait=False)
        app._idle_threads[:] = saved
