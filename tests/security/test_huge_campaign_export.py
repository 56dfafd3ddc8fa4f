"""An export of a huge campaign streams under ASGI without building the whole file in memory."""

from __future__ import annotations

import pytest

from labeling.backups import table_fingerprints
from labeling.models import Alert

pytestmark = pytest.mark.django_db


def _huge_campaign(owner, *, n_subjects: int, n_volunteers: int):
    """A campaign with n_subjects x n_volunteers votes, written in bulk (no stamps: exports of
    classifications and consensus never read them)."""
    import datetime as dt
    import uuid

    from django.contrib.auth import get_user_model

    from labeling.models import REAL_BOGUS_CLASSES, Campaign, Subject, Vote

    alerts = Alert.objects.bulk_create(
        [
            Alert(candid=9_000_000_000 + i, object_id=f"ZTF99huge{i:05d}", jd=2460000.5 + i / 1000,
                  night=dt.date(2023, 2, 24), fid=1 + i % 2, ra=10.0, dec=20.0, gal_l=100.0, gal_b=30.0,
                  isdiffpos=True, candidate={"candid": 9_000_000_000 + i})
            for i in range(n_subjects)
        ]
    )  # fmt: skip
    campaign = Campaign.objects.create(
        name="Huge", slug="huge", owner=owner, classes=REAL_BOGUS_CLASSES, state="live", retire_after=10**6
    )
    subjects = Subject.objects.bulk_create([Subject(campaign=campaign, alert=a) for a in alerts])
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"crowd{i:04d}", password="!") for i in range(n_volunteers)]
    )
    Vote.objects.bulk_create(
        [
            Vote(subject=s, campaign=campaign, volunteer=u, answer="real" if (i + j) % 3 else "bogus",
                 idempotency_key=uuid.uuid4())
            for i, s in enumerate(subjects)
            for j, u in enumerate(users)
        ],
        batch_size=5000,
    )  # fmt: skip
    return campaign


def _asgi_get(path: str, cookies: dict[str, str]) -> tuple[int, int, int, list[str]]:
    """GET through Blink's real ASGI application (as daphne would): status, body bytes, body messages, and
    the warnings raised on the way."""
    import asyncio
    import warnings

    from config.asgi import application

    status, total, messages = 0, 0, 0
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), (b"cookie", cookie)],
        "server": ("testserver", 80), "client": ("127.0.0.1", 5000),
    }  # fmt: skip

    sent_request = False

    async def receive():
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected until the response is done

    async def send(message):
        nonlocal status, total, messages
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            total += len(message.get("body", b""))
            messages += 1

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(application(scope, receive, send))
    return status, total, messages, [str(w.message) for w in caught]


@pytest.mark.django_db(transaction=True)
def test_a_huge_campaign_export_streams_under_asgi_without_building_in_memory(scientist):
    import tracemalloc

    from django.test import Client

    campaign = _huge_campaign(scientist, n_subjects=300, n_volunteers=40)  # 12,000 votes
    c = Client()
    c.force_login(scientist)
    cookies = {"sessionid": c.cookies["sessionid"].value}
    url = f"/api/campaigns/{campaign.slug}/exports/zooniverse/"
    before = table_fingerprints()

    # Warm up first (module imports, URL resolver, first queries), so the peak below is the export's own.
    assert _asgi_get(f"/api/campaigns/{campaign.slug}/exports/workflow/", cookies)[0] == 200
    tracemalloc.start()
    try:
        status, size, n_messages, warned = _asgi_get(url, cookies)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 200
    assert not [w for w in warned if "consume synchronous iterators" in w], warned
    assert n_messages > 2, "the export arrived in one piece: it was built whole before sending"
    # Streaming keeps memory well below the size of what was sent (a list() of it would exceed it).
    assert peak < max(size * 0.6, 4 << 20), f"peak {peak:,} bytes for an export of {size:,} bytes"
    assert size > 4 << 20  # big enough for the bound above to mean something
    assert table_fingerprints() == before
