"""Rate limits: votes, Talk posts, sign-ups and log-ins are limited per account and per address; past a limit the
answer is 429 with a message and a Retry-After header; a volunteer at keyboard speed is never limited; the
counts live in the shared cache."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client, override_settings

from core import ratelimit
from labeling.models import Comment, Vote
from labeling.votes import served_token
from tests.labeling.classify_helpers import make_alerts, make_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _pinned_clock(monkeypatch):
    """The windows are fixed (a minute, an hour): a test that straddled a boundary would see its counts reset."""
    start = 1_800_000_000 // 3600 * 3600 + 5
    monkeypatch.setattr(ratelimit, "_now", lambda: start)


@pytest.fixture
def fast_hashing():
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture
def scaled(settings):
    """Every limit at a hundredth of its size (600 votes a minute become 6), so a test reaches them quickly."""

    def scale(factor: float) -> None:
        settings.BLINK = {**getattr(settings, "BLINK", {}), "RATE_LIMIT_SCALE": factor}

    return scale


@pytest.fixture
def campaign(scientist, volunteer):
    return make_campaign(scientist, make_alerts(40, stamps=False), slug="limits", retire_after=50)


def vote(client, campaign, subject):
    # With the served token the classify page's card carried, for the client's user (a vote counts only with it).
    served = served_token(volunteer=client.handler._force_user, subject=subject)
    body = {"subject": subject.pk, "answer": "real", "idempotency_key": str(uuid.uuid4()), "served": served}
    return client.post(f"/api/campaigns/{campaign.slug}/votes/", data=json.dumps(body), content_type="application/json")


def assert_limited(response, what: str) -> None:
    assert response.status_code == 429, response.content[:300]
    assert 1 <= int(response["Retry-After"]) <= 3600
    text = response.content.decode()
    assert f"Too many {what}" in text
    assert "try again" in text


class TestVotes:
    def test_keyboard_speed_is_never_limited_and_a_script_past_the_limit_is(self, api_for, volunteer, campaign, scaled):
        """Thirty votes as fast as the test client sends them (far past a person's two a second) all count; with
        the limit brought down to thirty a minute, the thirty-first is refused."""
        client = api_for(volunteer)
        subjects = list(campaign.subjects.order_by("pk")[:31])
        assert [vote(client, campaign, s).status_code for s in subjects[:30]] == [201] * 30
        scaled(0.05)
        assert_limited(vote(client, campaign, subjects[30]), "votes")

    def test_past_the_per_account_limit_a_vote_is_a_429_with_retry_after(self, api_for, volunteer, campaign, scaled):
        scaled(0.01)  # 6 a minute
        client = api_for(volunteer)
        subjects = list(campaign.subjects.order_by("pk")[:7])
        assert [vote(client, campaign, s).status_code for s in subjects[:6]] == [201] * 6
        refused = vote(client, campaign, subjects[6])
        assert_limited(refused, "votes")
        assert refused.json()["code"] == "throttled"
        assert Vote.objects.count() == 6

    def test_the_per_address_limit_spans_accounts(self, api_for, volunteer, other_volunteer, campaign, settings):
        settings.BLINK = {"VOTES_PER_ADDRESS_PER_MINUTE": 3}
        subjects = list(campaign.subjects.order_by("pk")[:4])
        assert vote(api_for(volunteer), campaign, subjects[0]).status_code == 201
        assert vote(api_for(volunteer), campaign, subjects[1]).status_code == 201
        assert vote(api_for(other_volunteer), campaign, subjects[2]).status_code == 201
        assert_limited(vote(api_for(other_volunteer), campaign, subjects[3]), "votes")

    def test_an_unreachable_cache_lets_votes_through(self, api_for, volunteer, campaign, scaled, monkeypatch):
        scaled(0.001)

        def down(windows):
            raise ConnectionError("redis is down")

        monkeypatch.setattr(ratelimit, "_count", down)
        client = api_for(volunteer)
        assert [vote(client, campaign, s).status_code for s in campaign.subjects.order_by("pk")[:3]] == [201] * 3


class TestTalk:
    def test_past_the_limit_a_comment_is_refused_by_the_api(self, api_for, volunteer, campaign):
        alert = campaign.subjects.first().alert
        client = api_for(volunteer)
        url = f"/api/talk/alerts/{alert.candid}/comments/"
        for i in range(10):
            assert client.post(url, {"body": f"note {i}"}, format="json").status_code == 201
        assert_limited(client.post(url, {"body": "one too many"}, format="json"), "comments")
        assert Comment.objects.count() == 10

    def test_the_talk_form_says_so_on_a_page(self, client_for, volunteer, campaign, scaled):
        scaled(0.1)  # 1 a minute
        alert = campaign.subjects.first().alert
        client = client_for(volunteer)
        assert client.post(f"/talk/alert/{alert.candid}/", {"body": "first"}).status_code == 302
        page = client.post(f"/talk/alert/{alert.candid}/", {"body": "second"})
        assert_limited(page, "comments")
        assert "Please slow down" in page.content.decode()
        assert client.get(f"/talk/alert/{alert.candid}/").status_code == 200  # reading is never limited


class TestSignUpAndLogIn:
    def test_sign_ups_from_one_address_are_limited(self, fast_hashing):
        """The probe made thirty accounts in six seconds; the sixth in a minute is refused now."""
        codes = []
        for i in range(6):
            c = Client()
            r = c.post(
                "/accounts/signup/",
                {"username": f"bot{i:02d}", "password1": "Sturdy-pass-9134", "password2": "Sturdy-pass-9134"},
            )
            codes.append(r.status_code)
        assert codes[:5] == [302] * 5
        from django.contrib.auth import get_user_model

        assert get_user_model().objects.filter(username__startswith="bot").count() == 5
        page = Client().post(
            "/accounts/signup/",
            {"username": "bot99", "password1": "Sturdy-pass-9134", "password2": "Sturdy-pass-9134"},
        )
        assert_limited(page, "sign-ups")
        assert not get_user_model().objects.filter(username="bot99").exists()

    def test_log_in_attempts_from_one_address_are_limited_over_any_usernames(self, fast_hashing):
        c = Client()
        for i in range(30):
            r = c.post("/accounts/login/", {"username": f"guess{i}", "password": "nope"})
            assert r.status_code == 200, f"attempt {i + 1}: {r.status_code}"
        assert_limited(c.post("/accounts/login/", {"username": "guess-last", "password": "nope"}), "log-in attempts")

    def test_log_in_attempts_on_one_username_are_limited_from_any_address(self, fast_hashing, django_user_model):
        django_user_model.objects.create_user(username="lena", password="the-right-password-42")
        for i in range(20):
            c = Client(REMOTE_ADDR=f"10.0.{i}.1")
            assert c.post("/accounts/login/", {"username": "lena", "password": f"w{i}"}).status_code in (200, 429)
        r = Client(REMOTE_ADDR="10.9.9.9").post(
            "/accounts/login/", {"username": "LENA", "password": "the-right-password-42"}
        )
        assert_limited(r, "log-in attempts")

    def test_a_limited_api_request_answers_json(self, fast_hashing, scaled):
        scaled(0.2)  # one sign-up a minute from an address
        Client().post("/accounts/signup/", {"username": "a1", "password1": "Sturdy-pass-9134", "password2": "x"})
        r = Client().post(
            "/accounts/signup/", {"username": "a2", "password1": "p", "password2": "p"}, HTTP_ACCEPT="application/json"
        )
        assert r.status_code == 429
        assert r.json()["code"] == "throttled"
        assert set(r.json()) == {"detail", "code", "field"}


def test_the_counts_live_in_the_shared_cache_not_in_a_process(api_for, volunteer, campaign, scaled, settings):
    """Another process (or worker) sees the same counts: they are in the cache, under its prefix."""
    scaled(0.01)
    client = api_for(volunteer)
    for s in campaign.subjects.order_by("pk")[:6]:
        vote(client, campaign, s)
    keys = [
        key
        for key, _, _ in ratelimit._windows(ratelimit._limits()["vote"], account=str(volunteer.pk), address="127.0.0.1")
    ]
    if ratelimit._redis() is not None:
        counts = [int(ratelimit._redis().get(ratelimit._cache_key(k)) or 0) for k in keys]
    else:
        from django.core.cache import cache

        counts = [cache.get(k) or 0 for k in keys]
    assert counts
    assert min(counts) == 6
    ratelimit.forget_counts()
    assert vote(client, campaign, campaign.subjects.order_by("pk")[6]).status_code == 201
