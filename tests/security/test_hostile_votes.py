"""The vote and next-subject APIs refuse hostile votes, malformed bodies and odd parameters with a reason, and store
nothing."""

from __future__ import annotations

import json

import pytest

from labeling.backups import table_fingerprints

pytestmark = pytest.mark.django_db


@pytest.fixture
def vote_api(live_campaign, volunteer, client_for):
    from django.urls import Resolver404, resolve

    url = f"/api/campaigns/{live_campaign.slug}/votes/"
    try:
        resolve(url)
    except Resolver404:
        pytest.skip("the vote API (labeling/api/classify.py) has not landed yet")
    return client_for(volunteer), url


def _key(i: int = 0) -> str:
    return f"7d4c2b1a-0000-4000-8000-{i:012d}"


def _subject(campaign, n: int = 0):
    return campaign.subjects.order_by("pk")[n]


def _hostile_votes(campaign, other_campaign_subject):
    s = _subject(campaign).pk
    good = {"subject": s, "answer": "real", "idempotency_key": _key(1)}
    return {
        "subject-as-text": {**good, "subject": str(s)},
        "subject-float": {**good, "subject": s + 0.5},
        "subject-bool": {**good, "subject": True},
        "subject-negative": {**good, "subject": -1},
        "subject-zero": {**good, "subject": 0},
        "subject-2^64": {**good, "subject": 2**64},
        "subject-googol": {**good, "subject": 10**100},
        "subject-null": {**good, "subject": None},
        "subject-operator": {**good, "subject": {"$gt": 0}},
        "subject-list": {**good, "subject": [s]},
        "subject-unknown": {**good, "subject": 999_999_999},
        "subject-of-another-campaign": {**good, "subject": other_campaign_subject},
        "answer-number": {**good, "answer": 1},
        "answer-empty": {**good, "answer": ""},
        "answer-unknown-class": {**good, "answer": "probably"},
        "answer-case": {**good, "answer": "REAL"},
        "answer-padded": {**good, "answer": "real "},
        "answer-nul": {**good, "answer": "real\x00"},
        "answer-script": {**good, "answer": "<script>alert(1)</script>"},
        "answer-long": {**good, "answer": "r" * 3000},
        "answer-list": {**good, "answer": ["real", "bogus"]},
        "key-missing": {"subject": s, "answer": "real"},
        "key-not-uuid": {**good, "idempotency_key": "../../etc/passwd"},
        "key-number": {**good, "idempotency_key": 12345},
        "key-empty": {**good, "idempotency_key": ""},
        "duration-negative": {**good, "duration_ms": -1},
        "duration-huge": {**good, "duration_ms": 10**20},
        "duration-text": {**good, "duration_ms": "fast"},
        "duration-nan": {**good, "duration_ms": float("nan")},
        "extra-volunteer": {**good, "volunteer": 1},
        "extra-campaign": {**good, "campaign": "other"},
        "extra-created-at": {**good, "created_at": "1999-01-01T00:00:00Z"},
        "extra-proto": {**good, "__proto__": {"admin": True}},
        "everything-missing": {},
    }


VOTE_CASES = [
    "subject-as-text", "subject-float", "subject-bool", "subject-negative", "subject-zero", "subject-2^64",
    "subject-googol", "subject-null", "subject-operator", "subject-list", "subject-unknown",
    "subject-of-another-campaign", "answer-number", "answer-empty", "answer-unknown-class", "answer-case",
    "answer-padded", "answer-nul", "answer-script", "answer-long", "answer-list", "key-missing", "key-not-uuid",
    "key-number", "key-empty", "duration-negative", "duration-huge", "duration-text", "duration-nan",
    "extra-volunteer", "extra-campaign", "extra-created-at", "extra-proto", "everything-missing",
]  # fmt: skip


@pytest.fixture
def other_campaign_subject(scientist, demo_alerts):
    from labeling.models import Campaign, Subject

    other = Campaign.objects.create(
        name="Other", slug="other", owner=scientist, classes=[{"key": "real"}, {"key": "bogus"}], state="live"
    )
    return Subject.objects.create(campaign=other, alert=demo_alerts[0]).pk


def _light_state() -> tuple:
    from labeling.models import Subject, Vote

    return (
        Vote.objects.count(),
        sorted(Subject.objects.values_list("pk", "n_classifications", "n_votes", "retired", "majority_label")),
    )


def test_hostile_votes_are_refused_with_a_reason_and_store_nothing(vote_api, live_campaign, other_campaign_subject):
    """Every case in one test (the fixtures are costly); a case that slips through is named in the failure."""
    client, url = vote_api
    cases = _hostile_votes(live_campaign, other_campaign_subject)
    assert sorted(cases) == sorted(VOTE_CASES)
    before = table_fingerprints()
    light = _light_state()
    slipped = []
    for case in VOTE_CASES:
        r = client.post(url, json.dumps(cases[case], allow_nan=True), content_type="application/json")
        detail = r.json().get("detail") if r.get("Content-Type", "").startswith("application/json") else None
        if not 400 <= r.status_code < 500 or not isinstance(detail, str) or not detail:
            slipped.append((case, r.status_code, r.content[:200]))
        elif _light_state() != light:
            slipped.append((case, "stored something"))
    assert slipped == []
    assert table_fingerprints() == before


MALFORMED_BODIES = {
    "unclosed": (b"{", "application/json"),
    "empty": (b"", "application/json"),
    "null": (b"null", "application/json"),
    "array": (b"[]", "application/json"),
    "string": (b'"vote"', "application/json"),
    "number": (b"42", "application/json"),
    "nested-2000": (b"[" * 2000 + b"]" * 2000, "application/json"),
    "nested-objects": (b'{"a":' * 1500 + b"1" + b"}" * 1500, "application/json"),
    "bad-utf8": (b'{"subject": 1, "answer": "r\xff\xfeal"}', "application/json"),
    "bom": (b"\xef\xbb\xbf{}", "application/json"),
    "form-encoded": (b"subject=1&answer=real", "application/x-www-form-urlencoded"),
    "multipart": (
        b"--b\r\nContent-Disposition: form-data; name=subject\r\n\r\n1\r\n--b--",
        "multipart/form-data; boundary=b",
    ),
    "xml": (b"<vote><subject>1</subject></vote>", "application/xml"),
    "5-kB": (b'{"answer": "' + b"x" * 5000 + b'"}', "application/json"),
    "3-MB": (b'{"answer": "' + b"x" * (3 << 20) + b'"}', "application/json"),
}


def test_malformed_vote_bodies_are_refused_and_store_nothing(vote_api):
    client, url = vote_api
    before = table_fingerprints()
    light = _light_state()
    slipped = []
    for case, (body, content_type) in MALFORMED_BODIES.items():
        r = client.generic("POST", url, body, content_type=content_type)
        if r.status_code not in (400, 413, 415) or not r.json().get("detail"):
            slipped.append((case, r.status_code, r.content[:200]))
        elif _light_state() != light:
            slipped.append((case, "stored something"))
    assert slipped == []
    assert table_fingerprints() == before


def test_a_vote_cannot_reuse_another_volunteers_idempotency_key(
    vote_api, live_campaign, volunteer, other_volunteer, client_for
):
    from labeling.votes import served_token

    client, url = vote_api
    # Both were served it, as the classify page fetches subjects: each vote carries its card's token.
    mine, theirs = (served_token(volunteer=p, subject=_subject(live_campaign)) for p in (volunteer, other_volunteer))
    first = client.post(
        url,
        {"subject": _subject(live_campaign).pk, "answer": "real", "idempotency_key": _key(9), "served": mine},
        content_type="application/json",
    )
    assert first.status_code == 201
    thief = client_for(other_volunteer)
    before = table_fingerprints()
    r = thief.post(
        url,
        {"subject": _subject(live_campaign).pk, "answer": "bogus", "idempotency_key": _key(9), "served": theirs},
        content_type="application/json",
    )
    assert r.status_code == 409
    assert table_fingerprints() == before


def test_a_vote_on_a_retired_subject_or_an_unknown_campaign_is_refused(vote_api, live_campaign):
    from labeling.models import Subject

    client, url = vote_api
    subject = _subject(live_campaign, 1)
    Subject.objects.filter(pk=subject.pk).update(retired=True)
    before = table_fingerprints()
    r = client.post(
        url, {"subject": subject.pk, "answer": "real", "idempotency_key": _key(3)}, content_type="application/json"
    )
    assert r.status_code == 409
    for slug in ("no-such-campaign", "demo-real-bogus--", "x" * 80):
        r = client.post(
            f"/api/campaigns/{slug}/votes/",
            {"subject": subject.pk, "answer": "real", "idempotency_key": _key(4)},
            content_type="application/json",
        )
        assert r.status_code == 404
    r = client.post("/api/campaigns/x'%20OR%201=1/votes/", {}, content_type="application/json")
    assert r.status_code == 404
    assert table_fingerprints() == before


def test_the_next_subject_query_refuses_hostile_parameters(vote_api, live_campaign):
    client, _ = vote_api
    url = f"/api/campaigns/{live_campaign.slug}/next/"
    for query in (
        "n=-1",
        "n=0",
        "n=100000",
        "n=abc",
        "n=1e9",
        "exclude=1,2,x",
        "exclude=" + ",".join(["1"] * 100_000),
        "n=" + "9" * 5000,
    ):
        r = client.get(f"{url}?{query}")
        assert r.status_code == 400, (query, r.status_code)
        assert r.json()["detail"]
